/**
 * Provider deprecations in what the program declares: every resource type the provider marks
 * `@deprecated`, and every input property (at any depth) the program sets that the provider marks so.
 * `pulumi preview` shows these as warnings from the provider; the offline synth has no provider, so it
 * reads the same marks from the provider SDK's declarations (`@pulumi/aws/<module>/<resource>.d.ts` and
 * `types/input.d.ts`), parsed with TypeScript (syntax only: no type checking).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type * as ts from "typescript";
import { PROJECT_ROOT } from "../lambda-function";
import type { SynthResource } from "./run";

export interface Deprecation {
  /** The resource's URN. */
  readonly urn: string;
  readonly type: string;
  /** The input's path (`globalSecondaryIndexes[0].hashKey`), or empty when the resource type itself is deprecated. */
  readonly property: string;
  /** The provider's deprecation text. */
  readonly message: string;
}

/** An input property as the SDK declares it: its deprecation, and the input interfaces its type names. */
interface PropertyDeclaration {
  readonly deprecated?: string;
  /** `dynamodb.TableGlobalSecondaryIndex` for `inputs.dynamodb.TableGlobalSecondaryIndex`. */
  readonly types: readonly string[];
}
type InterfaceDeclaration = ReadonlyMap<string, PropertyDeclaration>;

/** Reads the provider SDK's declarations on demand, each file once. */
export class ProviderDeclarations {
  private readonly ts: typeof ts;
  private readonly inputTypes = new Map<string, InterfaceDeclaration>();
  /** `types/input.d.ts` cut at its top-level namespaces (`""` for what comes before the first); parsed one at a time. */
  private inputSections: Map<string, string> | undefined;
  private readonly resources = new Map<string, { deprecated?: string; args?: InterfaceDeclaration } | undefined>();

  constructor(private readonly packageDir: string = path.join(PROJECT_ROOT, "node_modules", "@pulumi", "aws")) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a devDependency, loaded only when a synth runs
    this.ts = require("typescript") as typeof ts;
  }

  private parse(file: string): ts.SourceFile {
    return this.parseText(file, fs.readFileSync(file, "utf8"));
  }

  private parseText(name: string, text: string): ts.SourceFile {
    return this.ts.createSourceFile(name, text, this.ts.ScriptTarget.Latest, true);
  }

  private deprecation(node: ts.Node): string | undefined {
    const tag = this.ts.getJSDocDeprecatedTag(node);
    if (!tag) return undefined;
    return this.ts.getTextOfJSDocComment(tag.comment)?.trim() || "deprecated";
  }

  /** The `inputs.<namespace>.<Name>` references anywhere in a property's type. */
  private referencedInputs(node: ts.Node | undefined): string[] {
    const found: string[] = [];
    const visit = (child: ts.Node): void => {
      if (this.ts.isTypeReferenceNode(child)) {
        const name = child.typeName.getText();
        if (name.startsWith("inputs.")) found.push(name.slice("inputs.".length));
      }
      this.ts.forEachChild(child, visit);
    };
    if (node) visit(node);
    return found;
  }

  private interfaceDeclaration(node: ts.InterfaceDeclaration): InterfaceDeclaration {
    const properties = new Map<string, PropertyDeclaration>();
    for (const member of node.members) {
      if (!this.ts.isPropertySignature(member)) continue;
      const deprecated = this.deprecation(member);
      properties.set(member.name.getText(), { ...(deprecated ? { deprecated } : {}), types: this.referencedInputs(member.type) });
    }
    return properties;
  }

  /**
   * `dynamodb.TableGlobalSecondaryIndex` → its properties, from `types/input.d.ts`. The file is 5.7 MB, one
   * `export declare namespace <service>` block per service; only the blocks a stack's inputs reach are
   * parsed (parsing the whole file took seconds, on every synth).
   */
  inputType(qualified: string): InterfaceDeclaration | undefined {
    const dot = qualified.indexOf(".");
    const section = dot < 0 ? "" : qualified.slice(0, dot);
    const sections = (this.inputSections ??= this.readInputSections());
    const text = sections.get(section);
    if (text !== undefined) {
      sections.delete(section);
      const walk = (statements: ts.NodeArray<ts.Statement>, prefix: string): void => {
        for (const statement of statements) {
          if (this.ts.isModuleDeclaration(statement) && statement.body && this.ts.isModuleBlock(statement.body)) {
            walk(statement.body.statements, `${prefix}${statement.name.getText()}.`);
          } else if (this.ts.isInterfaceDeclaration(statement)) {
            this.inputTypes.set(`${prefix}${statement.name.getText()}`, this.interfaceDeclaration(statement));
          }
        }
      };
      walk(this.parseText(`input-${section || "root"}.d.ts`, text).statements, "");
    }
    return this.inputTypes.get(qualified);
  }

  private readInputSections(): Map<string, string> {
    const text = fs.readFileSync(path.join(this.packageDir, "types", "input.d.ts"), "utf8");
    const starts = [...text.matchAll(/^export declare namespace (\w+) \{$/gm)];
    const sections = new Map<string, string>([["", text.slice(0, starts[0]?.index ?? text.length)]]);
    starts.forEach((start, i) => {
      const block = text.slice(start.index, starts[i + 1]?.index ?? text.length);
      sections.set(start[1]!, (sections.get(start[1]!) ?? "") + block);
    });
    return sections;
  }

  /** A resource type's own deprecation and its `<Class>Args`, or undefined when the SDK has no such file. */
  resource(type: string): { deprecated?: string; args?: InterfaceDeclaration } | undefined {
    if (this.resources.has(type)) return this.resources.get(type);
    const match = /^aws:([A-Za-z0-9]+)\/([A-Za-z0-9]+):([A-Za-z0-9]+)$/.exec(type);
    const file = match ? path.join(this.packageDir, match[1]!, `${match[2]!}.d.ts`) : undefined;
    let found: { deprecated?: string; args?: InterfaceDeclaration } | undefined;
    if (match && file && fs.existsSync(file)) {
      const className = match[3]!;
      found = {};
      for (const statement of this.parse(file).statements) {
        if (this.ts.isClassDeclaration(statement) && statement.name?.getText() === className) {
          const deprecated = this.deprecation(statement);
          if (deprecated) found = { ...found, deprecated };
        } else if (this.ts.isInterfaceDeclaration(statement) && statement.name.getText() === `${className}Args`) {
          found = { ...found, args: this.interfaceDeclaration(statement) };
        }
      }
    }
    this.resources.set(type, found);
    return found;
  }
}

/** The deprecated inputs in one value, walking nested objects and arrays along the declared types. */
function deprecatedInputs(
  declarations: ProviderDeclarations,
  value: unknown,
  declared: InterfaceDeclaration,
  at: string,
): Array<{ property: string; message: string }> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return [];
  const found: Array<{ property: string; message: string }> = [];
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    if (child === undefined) continue;
    const property = declared.get(key);
    if (!property) continue;
    const where = at ? `${at}.${key}` : key;
    if (property.deprecated) found.push({ property: where, message: property.deprecated });
    const nested = property.types
      .map((name) => declarations.inputType(name))
      .filter((type): type is InterfaceDeclaration => type !== undefined);
    const items = Array.isArray(child) ? child.map((item, index) => [item, `${where}[${index}]`] as const) : [[child, where] as const];
    for (const [item, itemAt] of items) for (const type of nested) found.push(...deprecatedInputs(declarations, item, type, itemAt));
  }
  return found;
}

/** Every provider deprecation in the synthesized resources, in resource order. */
export function findDeprecations(resources: readonly SynthResource[], declarations = new ProviderDeclarations()): Deprecation[] {
  const found: Deprecation[] = [];
  for (const resource of resources) {
    if (!resource.custom) continue;
    const declared = declarations.resource(resource.type);
    if (!declared) continue;
    if (declared.deprecated) found.push({ urn: resource.urn, type: resource.type, property: "", message: declared.deprecated });
    if (!declared.args) continue;
    for (const { property, message } of deprecatedInputs(declarations, resource.inputs, declared.args, "")) {
      found.push({ urn: resource.urn, type: resource.type, property, message });
    }
  }
  return found;
}

/** One line per deprecation, as the synth prints them. */
export function formatDeprecation(deprecation: Deprecation): string {
  const name = deprecation.urn.split("::").pop() ?? deprecation.urn;
  const what = deprecation.property ? `${deprecation.type} ${name}: ${deprecation.property}` : `${deprecation.type} ${name}`;
  return `${what}: ${deprecation.message}`;
}
