/**
 * The pipeline diagram (Mermaid flowchart), derived from the synthesized resources themselves: every
 * edge comes from a reference in the graph (a receipt rule's bucket and topic, a subscription's
 * endpoint, a pipe's source, enrichment and target, a rule's targets and DLQ, a queue's redrive policy,
 * an event source mapping, ARNs inside a state machine definition, names in a function's environment).
 * So a wiring change shows up in the diagram's diff.
 */
import type { SynthResource } from "./run";

interface NodeKind {
  readonly label: string;
  readonly open: string;
  readonly close: string;
}

/** The resource types drawn, with a label and a Mermaid shape. */
const KINDS: Readonly<Record<string, NodeKind>> = {
  "aws:ses/receiptRule:ReceiptRule": { label: "SES receipt rule", open: "[/", close: "/]" },
  "aws:s3/bucket:Bucket": { label: "S3 bucket", open: "[(", close: ")]" },
  "aws:sns/topic:Topic": { label: "SNS topic", open: "{{", close: "}}" },
  "aws:sqs/queue:Queue": { label: "SQS queue", open: "[[", close: "]]" },
  "aws:pipes/pipe:Pipe": { label: "EventBridge Pipe", open: "[", close: "]" },
  "aws:lambda/function:Function": { label: "Lambda", open: "(", close: ")" },
  "aws:cloudwatch/eventBus:EventBus": { label: "Event bus", open: "{{", close: "}}" },
  "aws:cloudwatch/eventRule:EventRule": { label: "Rule", open: "[", close: "]" },
  "aws:dynamodb/table:Table": { label: "DynamoDB table", open: "[(", close: ")]" },
  "aws:sfn/stateMachine:StateMachine": { label: "State machine", open: "[", close: "]" },
  "aws:scheduler/schedule:Schedule": { label: "Schedule", open: "([", close: "])" },
  "aws:kms/key:Key": { label: "KMS key", open: "[", close: "]" },
  "aws:cloudwatch/logGroup:LogGroup": { label: "Log group", open: "[", close: "]" },
};

/** Helper components that are not pipeline stages: their children are grouped with the stage above them. */
const HELPER_COMPONENTS: readonly string[] = [
  "ses-mail:lambda:Function",
  "ses-mail:messaging:QueueWithDeadLetter",
  "ses-mail:workflow:ScheduledStateMachine",
];

interface Node {
  readonly id: string;
  readonly resource: SynthResource;
  readonly display: string;
  /** Strings other resources use to refer to this one: ARN, URL, physical name. */
  readonly refs: readonly string[];
}

interface Edge {
  readonly from: string;
  readonly to: string;
  readonly label?: string;
  readonly dotted?: boolean;
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

function physicalName(resource: SynthResource): string {
  const { inputs, outputs } = resource;
  return (
    text(inputs.name) ??
    text(inputs.bucket) ??
    text(outputs.name) ??
    text(outputs.bucket) ??
    (resource.type === "aws:kms/key:Key" ? `${text(inputs.description) ?? resource.name}` : resource.name)
  );
}

function escapeLabel(label: string): string {
  return label.replace(/"/g, "#quot;");
}

/**
 * The pipeline as a Mermaid flowchart of the synthesized resources.
 * @public Loaded lazily (`require`) by cli/synth.ts, which knip does not follow.
 */
export function pipelineDiagram(resources: readonly SynthResource[]): string {
  const byUrn = new Map(resources.map((resource) => [resource.urn, resource]));
  const nodes: Node[] = [];
  for (const resource of resources) {
    if (!KINDS[resource.type]) continue;
    const refs = [
      text(resource.outputs.arn),
      text(resource.outputs.url),
      text(resource.outputs.id),
      physicalName(resource),
      text(resource.outputs.keyId),
    ].filter((ref): ref is string => ref !== undefined);
    nodes.push({ id: `n${nodes.length}`, resource, display: physicalName(resource), refs });
  }

  const find = (ref: unknown, types?: readonly string[]): Node | undefined => {
    const wanted = text(ref);
    if (!wanted) return undefined;
    return nodes.find((node) => (!types || types.includes(node.resource.type)) && node.refs.includes(wanted));
  };

  const edges: Edge[] = [];
  const edge = (from: Node | undefined, to: Node | undefined, label?: string, dotted?: boolean) => {
    if (from && to && from !== to) edges.push({ from: from.id, to: to.id, ...(label ? { label } : {}), ...(dotted ? { dotted } : {}) });
  };

  for (const resource of resources) {
    const { inputs } = resource;
    const self = nodes.find((node) => node.resource === resource);
    switch (resource.type) {
      case "aws:ses/receiptRule:ReceiptRule":
        for (const action of (inputs.s3Actions as Array<Record<string, unknown>> | undefined) ?? []) {
          edge(self, find(action.bucketName, ["aws:s3/bucket:Bucket"]), `store ${text(action.objectKeyPrefix) ?? ""}`.trim());
          edge(self, find(action.topicArn), "notify");
        }
        break;
      case "aws:sns/topicSubscription:TopicSubscription":
        edge(find(inputs.topic), find(inputs.endpoint), inputs.rawMessageDelivery ? "raw delivery" : text(inputs.protocol));
        break;
      case "aws:pipes/pipe:Pipe":
        edge(find(inputs.source), self, "poll");
        edge(self, find(inputs.enrichment), "enrich");
        edge(self, find(inputs.target), "put decision");
        break;
      case "aws:cloudwatch/eventRule:EventRule":
        edge(find(inputs.eventBusName, ["aws:cloudwatch/eventBus:EventBus"]), self, "match");
        break;
      case "aws:cloudwatch/eventTarget:EventTarget": {
        const rule = find(inputs.rule, ["aws:cloudwatch/eventRule:EventRule"]);
        edge(rule, find(inputs.arn), "target");
        edge(rule, find((inputs.deadLetterConfig as Record<string, unknown> | undefined)?.arn), "undeliverable", true);
        break;
      }
      case "aws:sqs/queue:Queue": {
        const redrive = text(inputs.redrivePolicy);
        if (redrive) {
          const policy = JSON.parse(redrive) as { deadLetterTargetArn?: string; maxReceiveCount?: number };
          edge(self, find(policy.deadLetterTargetArn), `after ${policy.maxReceiveCount} receives`, true);
        }
        break;
      }
      case "aws:lambda/eventSourceMapping:EventSourceMapping": {
        const fn = find(inputs.functionName, ["aws:lambda/function:Function"]);
        const label = inputs.batchSize !== undefined ? `batch ${String(inputs.batchSize)}` : undefined;
        edge(find(inputs.eventSourceArn) ?? find(String(inputs.eventSourceArn ?? "").replace(/\/stream\/.*$/, "")), fn, label);
        const onFailure = (inputs.destinationConfig as { onFailure?: { destinationArn?: string } } | undefined)?.onFailure?.destinationArn;
        edge(fn, find(onFailure), "on failure", true);
        break;
      }
      case "aws:sfn/stateMachine:StateMachine": {
        const definition = text(inputs.definition) ?? "";
        for (const node of nodes) {
          if (node === self || node.resource.type === "aws:cloudwatch/logGroup:LogGroup") continue;
          const arnOrUrl = node.refs.find((ref) => (ref.startsWith("arn:") || ref.startsWith("https://")) && definition.includes(ref));
          if (arnOrUrl) edge(self, node, node.resource.type === "aws:lambda/function:Function" ? "invoke" : undefined);
        }
        break;
      }
      case "aws:scheduler/schedule:Schedule": {
        const target = (inputs.target as Record<string, unknown> | undefined)?.arn;
        edge(self, find(target), text(inputs.scheduleExpression));
        break;
      }
      case "aws:lambda/function:Function": {
        const variables =
          ((inputs.environment as Record<string, unknown> | undefined)?.variables as Record<string, unknown> | undefined) ?? {};
        for (const value of Object.values(variables)) {
          const target = find(value, [
            "aws:dynamodb/table:Table",
            "aws:sqs/queue:Queue",
            "aws:s3/bucket:Bucket",
            "aws:kms/key:Key",
            "aws:sns/topic:Topic",
          ]);
          edge(self, target, "uses", true);
        }
        break;
      }
      default:
        break;
    }
  }

  // Group nodes by pipeline stage: the nearest ancestor component that is not a helper or the root.
  const stageOf = (resource: SynthResource): SynthResource | undefined => {
    let parent = resource.parent ? byUrn.get(resource.parent) : undefined;
    while (parent && (HELPER_COMPONENTS.includes(parent.type) || parent.custom))
      parent = parent.parent ? byUrn.get(parent.parent) : undefined;
    return parent && parent.parent ? parent : undefined;
  };
  const stages = new Map<string, { stage: SynthResource | undefined; nodes: Node[] }>();
  for (const node of nodes) {
    const stage = stageOf(node.resource);
    const key = stage?.urn ?? "";
    if (!stages.has(key)) stages.set(key, { stage, nodes: [] });
    stages.get(key)!.nodes.push(node);
  }

  const used = new Set(edges.flatMap((e) => [e.from, e.to]));
  const lines = ["flowchart LR"];
  let stageIndex = 0;
  for (const { stage, nodes: members } of stages.values()) {
    const drawn = members.filter((node) => used.has(node.id) || node.resource.type !== "aws:cloudwatch/logGroup:LogGroup");
    if (drawn.length === 0) continue;
    const indent = stage ? "    " : "  ";
    if (stage) lines.push(`  subgraph s${stageIndex++}["${escapeLabel(stage.type.split(":").pop() ?? stage.name)}"]`);
    for (const node of drawn) {
      const kind = KINDS[node.resource.type]!;
      lines.push(`${indent}${node.id}${kind.open}"${escapeLabel(`${kind.label}<br/>${node.display}`)}"${kind.close}`);
    }
    if (stage) lines.push("  end");
  }
  const seen = new Set<string>();
  for (const e of edges) {
    const line = `  ${e.from} ${e.dotted ? "-.->" : "-->"}${e.label ? `|"${escapeLabel(e.label)}"|` : ""} ${e.to}`;
    if (seen.has(line)) continue;
    seen.add(line);
    lines.push(line);
  }
  return `${lines.join("\n")}\n`;
}
