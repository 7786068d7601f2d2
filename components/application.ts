/**
 * Application: the AppRegistry application `ses-mail-{env}` (myApplications in the console) and a
 * resource group of everything tagged `Application = ses-mail-{env}`. The application's own
 * `awsApplication` tag is what myApplications groups resources by; the root component adds it to
 * every taggable resource.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { StackContext } from "./context";

export interface ApplicationArgs {
  readonly stack: StackContext;
  /** Tags the resource group selects on. */
  readonly tags: Readonly<Record<string, string>>;
}

/** The resource group's query: every resource carrying the stack's `Application` tag. */
export function resourceGroupQuery(applicationTagValue: string): string {
  return JSON.stringify({
    ResourceTypeFilters: ["AWS::AllSupported"],
    TagFilters: [{ Key: "Application", Values: [applicationTagValue] }],
  });
}

export class Application extends pulumi.ComponentResource {
  public readonly application: aws.servicecatalog.AppregistryApplication;
  public readonly resourceGroup: aws.resourcegroups.Group;
  /** `{ awsApplication: <arn> }`. */
  public readonly applicationTag: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: ApplicationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-mail:application:Application", name, {}, opts);
    const { stack } = args;
    const applicationTagValue = args.tags.Application ?? stack.names.application;

    this.application = new aws.servicecatalog.AppregistryApplication(
      `${name}-application`,
      { name: stack.names.application, description: `ses-mail (${stack.env}): SES inbound mail routed into Gmail` },
      { parent: this },
    );
    this.resourceGroup = new aws.resourcegroups.Group(
      `${name}-group`,
      {
        name: stack.names.resourceGroup,
        description: `Every resource of ses-mail ${stack.env}`,
        resourceQuery: { type: "TAG_FILTERS_1_0", query: resourceGroupQuery(applicationTagValue) },
        // The group belongs to the application too (the root's tagging adds the defaults).
        tags: this.application.applicationTag,
      },
      { parent: this },
    );
    this.applicationTag = this.application.applicationTag;
    this.registerOutputs({ applicationArn: this.application.arn, resourceGroupArn: this.resourceGroup.arn });
  }
}
