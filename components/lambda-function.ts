/**
 * One least-privilege Lambda function from a callback factory: its own role with one inline policy
 * (its log group and X-Ray, plus exactly the statements its stage passes), a pre-created log group
 * with retention, X-Ray Active tracing, and an archive that holds only the packages the function needs.
 *
 * Never the CallbackFunction default role: that one carries nine `*FullAccess` managed policies.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { StackContext } from "./context";
import type { FunctionKey } from "./naming";
import { policyDocument, serviceTrustPolicy, trustPolicyJson, baseFunctionStatements, type PolicyStatement } from "./policies";

/** The project root: where package.json is, and the working directory Pulumi resolves code paths from. */
export const PROJECT_ROOT = path.resolve(__dirname, "..");

/**
 * A handler's callback factory as Pulumi serializes it. `never` for the event type lets any handler's
 * factory in (parameters are contravariant) without `any`.
 */
export type HandlerFactory = aws.lambda.CallbackFactory<never, unknown>;

/** A handler as a stage receives it: the factory, its environment builder and the packages it needs. */
export interface LambdaCode<TEnv> {
  /** The callback factory (`routerFactory`, `gmailForwarderFactory`, …); it runs once per container. */
  readonly factory: HandlerFactory;
  /** Turns what the stage built (table name, queue URL, …) into the function's environment variables. */
  readonly environmentVariables: (env: TEnv) => Record<string, string>;
  /** Packages from `dependencies` the closure requires at run time. Defaults to the stage's list. */
  readonly packages?: readonly string[];
}

/** Packages the Lambda Node.js runtime provides (AWS SDK v3 clients): never bundled. */
export function isRuntimeProvided(pkg: string): boolean {
  return pkg.startsWith("@aws-sdk/client-");
}

/**
 * What to exclude from a function's archive: every package in `dependencies` that the function does
 * not list (Pulumi bundles all of `dependencies`, transitively, whatever the closure uses), including the
 * AWS SDK clients the runtime provides. Throws when an allowed package would not be bundled at all.
 */
export function archiveExclusions(dependencies: readonly string[], allowed: readonly string[], functionName: string): string[] {
  for (const pkg of allowed) {
    if (isRuntimeProvided(pkg)) {
      throw new Error(`${functionName}: ${pkg} is provided by the Lambda runtime; do not list it among the packages to bundle`);
    }
    if (!dependencies.includes(pkg)) {
      throw new Error(`${functionName}: needs ${pkg}, which is not in package.json "dependencies", so it would not be bundled`);
    }
  }
  return dependencies.filter((pkg) => !allowed.includes(pkg) && !pkg.startsWith("@pulumi/")).sort();
}

/**
 * Type declarations that some runtime packages list as dependencies (aws-xray-sdk-core lists
 * `@types/cls-hooked`, which pulls in `@types/node` and `undici-types`): never needed at run time.
 */
export function typeOnlyPackages(): string[] {
  const typesDir = path.join(PROJECT_ROOT, "node_modules", "@types");
  const types = fs.existsSync(typesDir) ? fs.readdirSync(typesDir).map((entry) => `@types/${entry}`) : [];
  return [...types, "undici-types"];
}

/**
 * Packages that bundled packages declare but that never load in ses-mail's functions: gaxios (under the
 * Google libraries) imports node-fetch only when it is given no `fetch`, and ses-mail always gives it the
 * runtime's (adapters/gmail/oauth.ts `googleTransport`). node-fetch would bring 9 MB of
 * web-streams-polyfill and put the forwarder over its archive budget.
 */
export const NEVER_LOADED_PACKAGES: readonly string[] = ["node-fetch"];

/** The project's `dependencies`, read once. */
let cachedDependencies: string[] | undefined;
export function projectDependencies(): string[] {
  if (!cachedDependencies) {
    const manifest = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "package.json"), "utf8")) as {
      dependencies?: Record<string, string>;
    };
    cachedDependencies = Object.keys(manifest.dependencies ?? {});
  }
  return cachedDependencies;
}

/**
 * Lambda runtime of every function: Node 24, the current LTS that Lambda runs. The project's own tests,
 * bench, CLI and local mode run on the same major (the `node` devDependency), so what the tests execute
 * is what Lambda runs; tests/runtime.test.ts checks that the two agree.
 */
export const LAMBDA_RUNTIME = "nodejs24.x";
/** Graviton: cheaper per GB-second, and no function bundles native code. */
export const LAMBDA_ARCHITECTURE = "arm64";

/** A role that Lambda (of this account) may assume, with no permissions yet. */
export function createLambdaRole(
  name: string,
  roleName: string,
  accountId: pulumi.Input<string>,
  opts: pulumi.CustomResourceOptions,
): aws.iam.Role {
  return new aws.iam.Role(
    name,
    {
      name: roleName,
      description: `Execution role of ${roleName}`,
      assumeRolePolicy: pulumi.output(accountId).apply((account) => trustPolicyJson(serviceTrustPolicy("lambda.amazonaws.com", account))),
    },
    opts,
  );
}

export interface SesMailFunctionArgs {
  /** The stack: names, account, log retention and metrics namespace all come from it. */
  readonly stack: StackContext;
  /**
   * Which function this is: its physical name (`stack.names.function(key)`, log group
   * `/aws/lambda/<name>`), its role's name and its Powertools service name.
   */
  readonly key: FunctionKey;
  readonly description: string;
  readonly factory: HandlerFactory;
  /** Packages from `dependencies` to bundle; every other one is excluded from the archive. */
  readonly packages: readonly string[];
  /** Memory in MB. */
  readonly memorySize: number;
  /** Timeout in seconds. */
  readonly timeout: number;
  readonly environment: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** The stage's statements; the function's own logs and X-Ray are always added. */
  readonly statements: pulumi.Input<PolicyStatement[]>;
  /** A role created beforehand (when a key policy must name it before the function exists). Default: one is created. */
  readonly role?: aws.iam.Role;
}

export class SesMailFunction extends pulumi.ComponentResource {
  public readonly function: aws.lambda.CallbackFunction<never, unknown>;
  public readonly role: aws.iam.Role;
  public readonly policy: aws.iam.RolePolicy;
  public readonly logGroup: aws.cloudwatch.LogGroup;
  public readonly arn: pulumi.Output<string>;
  public readonly name: pulumi.Output<string>;

  constructor(name: string, args: SesMailFunctionArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-mail:lambda:Function", name, {}, opts);
    const parent = { parent: this };
    const { stack, key } = args;
    const functionName = stack.names.function(key);

    this.role = args.role ?? createLambdaRole(`${name}-role`, stack.names.role(key), stack.aws.accountId, parent);
    this.logGroup = new aws.cloudwatch.LogGroup(
      `${name}-logs`,
      { name: `/aws/lambda/${functionName}`, retentionInDays: stack.logRetentionDays },
      parent,
    );
    this.policy = new aws.iam.RolePolicy(
      `${name}-policy`,
      {
        name: `${functionName}-permissions`,
        role: this.role.name,
        policy: pulumi
          .all([this.logGroup.arn, args.statements])
          .apply(([logGroupArn, statements]) => JSON.stringify(policyDocument([...baseFunctionStatements(logGroupArn), ...statements]))),
      },
      parent,
    );

    const environment = pulumi.output(args.environment).apply((variables) => ({
      POWERTOOLS_SERVICE_NAME: key,
      POWERTOOLS_METRICS_NAMESPACE: stack.metricsNamespace,
      ...variables,
    }));

    this.function = new aws.lambda.CallbackFunction<never, unknown>(
      `${name}-function`,
      {
        name: functionName,
        description: args.description,
        callbackFactory: args.factory,
        role: this.role,
        runtime: LAMBDA_RUNTIME,
        architectures: [LAMBDA_ARCHITECTURE],
        memorySize: args.memorySize,
        timeout: args.timeout,
        tracingConfig: { mode: "Active" },
        loggingConfig: { logFormat: "JSON", logGroup: this.logGroup.name },
        environment: { variables: environment },
        codePathOptions: {
          extraExcludePackages: [
            ...archiveExclusions(projectDependencies(), args.packages, functionName),
            ...typeOnlyPackages(),
            ...NEVER_LOADED_PACKAGES,
          ],
        },
      },
      { parent: this, dependsOn: [this.logGroup, this.policy] },
    );

    this.arn = this.function.arn;
    this.name = this.function.name;
    this.registerOutputs({ arn: this.arn, name: this.name, roleArn: this.role.arn, logGroup: this.logGroup.name });
  }
}
