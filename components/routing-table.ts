/**
 * The routing table (`ses-mail-email-routing-{env}`): PAY_PER_REQUEST, `PK`/`SK`, a stream of new and
 * old images (the credential manager's trigger), the `entity_type` GSI the CLI lists by, point-in-time
 * recovery, and TTL for short-lived items. Keys and index come from core/table.ts, the same constants
 * the dynalite definition in adapters/aws/routing-table.ts uses.
 *
 * Rules declared in stack config (`ses-mail:routes`) become Pulumi-managed items marked
 * `managed_by: "pulumi"`, beside the ad-hoc rules the CLI writes.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { marshall } from "@aws-sdk/util-dynamodb";
import type { DeclaredRoute } from "../config/schema";
import { createRuleCodec, declaredRuleItem } from "../core/rules";
import { ENTITY_TYPE_ATTRIBUTE, ENTITY_TYPE_INDEX, PARTITION_KEY, RuleManager, SORT_KEY, TTL_ATTRIBUTE } from "../core/table";
import type { StackContext } from "./context";

export interface RoutingTableArgs {
  readonly stack: StackContext;
  /** Rules kept as code. Default none. */
  readonly routes?: readonly DeclaredRoute[];
  /**
   * DynamoDB deletion protection: AWS refuses to delete the table (so `pulumi destroy` fails on it) while
   * set. It holds the rules and the SMTP users' credentials. Default false; the stack sets it from
   * `ses-mail:deletionProtection`.
   */
  readonly deletionProtection?: boolean;
}

/**
 * The DynamoDB item (attribute-value JSON, as `aws.dynamodb.TableItem` takes it) of a declared route.
 * No timestamps: they would change on every deployment.
 */
export function declaredRouteItem(route: DeclaredRoute): string {
  return JSON.stringify(marshall(declaredRuleItem(createRuleCodec(), route, RuleManager.Pulumi), { removeUndefinedValues: true }));
}

/** A stable, readable logical name suffix for a route (`*@example.com` → `any-at-example.com`). */
export function routeResourceSuffix(pattern: string): string {
  return pattern
    .replace(/^\*$/, "any")
    .replace(/\*/g, "any")
    .replace(/@/g, "-at-")
    .replace(/[^A-Za-z0-9.+_-]/g, "_");
}

export class RoutingTable extends pulumi.ComponentResource {
  public readonly table: aws.dynamodb.Table;
  public readonly routes: aws.dynamodb.TableItem[];

  constructor(name: string, args: RoutingTableArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-mail:routing:RoutingTable", name, {}, opts);
    const { stack } = args;

    this.table = new aws.dynamodb.Table(
      `${name}-table`,
      {
        name: stack.names.table,
        billingMode: "PAY_PER_REQUEST",
        hashKey: PARTITION_KEY,
        rangeKey: SORT_KEY,
        attributes: [
          { name: PARTITION_KEY, type: "S" },
          { name: SORT_KEY, type: "S" },
          { name: ENTITY_TYPE_ATTRIBUTE, type: "S" },
        ],
        globalSecondaryIndexes: [
          {
            name: ENTITY_TYPE_INDEX,
            keySchemas: [
              { attributeName: ENTITY_TYPE_ATTRIBUTE, keyType: "HASH" },
              { attributeName: PARTITION_KEY, keyType: "RANGE" },
            ],
            projectionType: "ALL",
          },
        ],
        streamEnabled: true,
        streamViewType: "NEW_AND_OLD_IMAGES",
        pointInTimeRecovery: { enabled: true },
        ttl: { attributeName: TTL_ATTRIBUTE, enabled: true },
        serverSideEncryption: { enabled: true },
        deletionProtectionEnabled: args.deletionProtection ?? false,
      },
      { parent: this },
    );

    this.routes = (args.routes ?? []).map(
      (route) =>
        new aws.dynamodb.TableItem(
          `${name}-route-${routeResourceSuffix(route.recipient)}`,
          { tableName: this.table.name, hashKey: this.table.hashKey, rangeKey: this.table.rangeKey, item: declaredRouteItem(route) },
          { parent: this },
        ),
    );

    this.registerOutputs({ tableName: this.table.name, tableArn: this.table.arn, streamArn: this.table.streamArn });
  }
}
