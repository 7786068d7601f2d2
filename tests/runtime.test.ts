/**
 * One Node major everywhere: the tests, the bench, the CLI and local mode run on the Node the project
 * brings (the `node` devDependency), and it must be the major the Lambdas run, so what the tests
 * execute is what Lambda runs.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { LAMBDA_RUNTIME } from "../components/lambda-function";

const ROOT = path.resolve(__dirname, "..");

describe("runtime", () => {
  it("runs the tests on the Node major of the Lambda runtime", () => {
    // Prepare
    const lambdaMajor = /^nodejs(\d+)\.x$/.exec(LAMBDA_RUNTIME)?.[1];

    // Act
    const testMajor = process.versions.node.split(".")[0];

    // Assess
    expect(LAMBDA_RUNTIME).toMatch(/^nodejs(\d+)\.x$/);
    expect(`node ${testMajor}`).toBe(`node ${lambdaMajor}`);
  });

  it("pins the project's own Node to that major, and engines admits it", () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
      devDependencies: Record<string, string>;
      engines: { node: string };
    };
    const lambdaMajor = /^nodejs(\d+)\.x$/.exec(LAMBDA_RUNTIME)?.[1];
    expect(manifest.devDependencies.node).toMatch(new RegExp(`^\\^${lambdaMajor}\\.`));
    const minimum = /^>=(\d+)\./.exec(manifest.engines.node)?.[1];
    expect(Number(minimum)).toBeLessThanOrEqual(Number(lambdaMajor));
  });
});
