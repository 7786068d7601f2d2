"use strict";
// Lets Node run the TypeScript sources directly (the CLI, `npm start`, `npm run bench`).
// Each .ts file is transpiled on first require with the project's TypeScript, the same transpile-only
// emit Pulumi's ts-node gives `pulumi up`, so closures serialize here exactly as they do in a deploy.
// Output is cached under node_modules/.cache, keyed by the source, the options and the compiler version.
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const cacheDir = path.join(root, "node_modules", ".cache", "ses-mail-ts");
const configPath = path.join(root, "tsconfig.json");
let typescript;
let compilerOptions;
let cacheKey;

// What the cached output depends on besides the source: the compiler's version and the tsconfig, read
// without loading the compiler itself (its 9 MB take about 0.4 s to load; a warm start needs none of it).
function outputKey() {
  if (cacheKey === undefined) {
    const version = JSON.parse(fs.readFileSync(require.resolve("typescript/package.json"), "utf8")).version;
    cacheKey = crypto
      .createHash("sha256")
      .update(`${version}\0${fs.readFileSync(configPath, "utf8")}\0${fs.readFileSync(path.join(__dirname, "register-ts.js"), "utf8")}`)
      .digest("hex");
  }
  return cacheKey;
}

function compiler() {
  if (!typescript) {
    typescript = require("typescript");
    const { config, error } = typescript.readConfigFile(configPath, typescript.sys.readFile);
    if (error) throw new Error(typescript.flattenDiagnosticMessageText(error.messageText, "\n"));
    const { options } = typescript.convertCompilerOptionsFromJson(config.compilerOptions, root);
    // CommonJS for require(); inline source maps so stack traces point at the .ts lines.
    compilerOptions = { ...options, module: typescript.ModuleKind.CommonJS, sourceMap: false, inlineSourceMap: true, inlineSources: false };
    delete compilerOptions.moduleResolution;
  }
  return typescript;
}

function transpile(source, filename) {
  const hash = crypto.createHash("sha256").update(outputKey()).update("\0").update(filename).update("\0").update(source).digest("hex");
  const cached = path.join(cacheDir, `${hash}.js`);
  try {
    return fs.readFileSync(cached, "utf8");
  } catch {
    // not cached yet
  }
  const ts = compiler();
  const { outputText } = ts.transpileModule(source, { compilerOptions, fileName: filename });
  try {
    fs.mkdirSync(cacheDir, { recursive: true });
    const temporary = `${cached}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, outputText);
    fs.renameSync(temporary, cached);
  } catch {
    // A read-only checkout still works, only slower.
  }
  return outputText;
}

if (!require.extensions[".ts"]) {
  // V8's compiled code for every module (the SDK, Pulumi, the transpiled sources) is kept too: a warm
  // start compiles nothing again (`ses-mail --help` 1.0 s → 0.7 s, a synth about 1 s less).
  require("node:module").enableCompileCache?.(path.join(root, "node_modules", ".cache", "ses-mail-v8"));
  process.setSourceMapsEnabled(true);
  require.extensions[".ts"] = function loadTypeScript(module, filename) {
    const source = fs.readFileSync(filename, "utf8");
    module._compile(transpile(source, filename), filename);
  };
}
