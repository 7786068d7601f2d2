/**
 * Default tags on every taggable resource, applied by one resource transformation on the root
 * component, so no resource can forget them. The tags are explicit resource inputs (not provider
 * `defaultTags`), so they show in the synth output and in mock tests.
 */
import * as pulumi from "@pulumi/pulumi";

export const PROJECT_TAG_VALUE = "ses-mail";
export const MANAGED_BY_TAG_VALUE = "pulumi";

/** `Project`, `ManagedBy`, `Environment`, `Application`, as in the seed (`Application = ses-mail-{env}`). */
export function defaultTags(env: string): Record<string, string> {
  return {
    Project: PROJECT_TAG_VALUE,
    ManagedBy: MANAGED_BY_TAG_VALUE,
    Environment: env,
    Application: `ses-mail-${env}`,
  };
}

/** Resource types that must not carry the `awsApplication` tag: the application itself. */
const APPLICATION_TYPES: readonly string[] = ["aws:servicecatalog/appregistryApplication:AppregistryApplication"];

/**
 * A transformation that merges the default tags (and, once known, the application tag) into every
 * resource whose provider schema has `tags`. Generated AWS resources always put a `tags` key in their
 * inputs (undefined when not given), and never one when the type cannot be tagged, so the key's presence
 * is the test. Tags the resource sets itself win over defaults.
 */
export function tagTransformation(
  tags: Readonly<Record<string, string>>,
  applicationTag: () => pulumi.Input<Record<string, string>> | undefined,
): pulumi.ResourceTransformation {
  return (args) => {
    if (!args.type.startsWith("aws:") || !Object.prototype.hasOwnProperty.call(args.props, "tags")) return undefined;
    const own = args.props.tags as pulumi.Input<Record<string, string>> | undefined;
    const app = APPLICATION_TYPES.includes(args.type) ? undefined : applicationTag();
    // Outputs (the application tag) and plain objects mix.
    const merged = pulumi.all([own ?? {}, app ?? {}]).apply(([mine, application]) => ({ ...tags, ...application, ...mine }));
    return { props: { ...args.props, tags: merged }, opts: args.opts };
  };
}
