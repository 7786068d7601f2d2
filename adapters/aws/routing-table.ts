/**
 * Creating the routing table outside Pulumi: for local mode and tests (dynalite). The Pulumi
 * component declares the same keys and index from the same constants in core/table.ts.
 */
import { CreateTableCommand, DescribeTableCommand, type DynamoDBClient, type CreateTableCommandInput } from "@aws-sdk/client-dynamodb";
import { ENTITY_TYPE_ATTRIBUTE, ENTITY_TYPE_INDEX, PARTITION_KEY, SORT_KEY } from "../../core/table";

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
