/**
 * The routing table itself: creating it outside Pulumi (local mode and tests, on dynalite; the Pulumi
 * component declares the same keys and index from the same constants in core/table.ts), and listing
 * one entity type through its index.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  paginateQuery,
  type CreateTableCommandInput,
  type DynamoDBClient,
} from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import type { StoredItem } from "../../core/ports";
import { ENTITY_TYPE_ATTRIBUTE, ENTITY_TYPE_INDEX, PARTITION_KEY, SORT_KEY, type EntityType } from "../../core/table";

export function routingTableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: "PAY_PER_REQUEST",
    AttributeDefinitions: [
      { AttributeName: PARTITION_KEY, AttributeType: "S" },
      { AttributeName: SORT_KEY, AttributeType: "S" },
      { AttributeName: ENTITY_TYPE_ATTRIBUTE, AttributeType: "S" },
    ],
    KeySchema: [
      { AttributeName: PARTITION_KEY, KeyType: "HASH" },
      { AttributeName: SORT_KEY, KeyType: "RANGE" },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: ENTITY_TYPE_INDEX,
        KeySchema: [
          { AttributeName: ENTITY_TYPE_ATTRIBUTE, KeyType: "HASH" },
          { AttributeName: PARTITION_KEY, KeyType: "RANGE" },
        ],
        Projection: { ProjectionType: "ALL" },
      },
    ],
  };
}

/** Creates the table unless it exists; waits until it is ACTIVE. */
export async function ensureRoutingTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(new CreateTableCommand(routingTableDefinition(tableName)));
  } catch (error) {
    if (!(error instanceof Error && error.name === "ResourceInUseException")) throw error;
  }
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === "ACTIVE") return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Every item of one entity type, ordered by key, through the `entity_type` index: a Query, never a Scan. */
export async function queryEntityType(client: DynamoDBClient, tableName: string, entityType: EntityType): Promise<StoredItem[]> {
  const items: StoredItem[] = [];
  const pages = paginateQuery(
    { client },
    {
      TableName: tableName,
      IndexName: ENTITY_TYPE_INDEX,
      KeyConditionExpression: "#type = :type",
      ExpressionAttributeNames: { "#type": ENTITY_TYPE_ATTRIBUTE },
      ExpressionAttributeValues: { ":type": { S: entityType } },
    },
  );
  for await (const page of pages) for (const raw of page.Items ?? []) items.push(unmarshall(raw));
  return items;
}
