// ESLint flat config: the recommended JS and typescript-eslint rules, plus the rules that keep
// Lambda code serializable by Pulumi (see ../shared/NOTES.md and docs/ARCHITECTURE.md).
const js = require("@eslint/js");
const tseslint = require("typescript-eslint");

/** Code that ends up inside a Lambda archive. */
const LAMBDA_CODE = ["core/**/*.ts", "handlers/**/*.ts", "adapters/aws/**/*.ts", "adapters/gmail/**/*.ts"];

module.exports = tseslint.config(
  { ignores: ["node_modules/", "coverage/", "tests/.archives/", "scratch/", ".ses-mail/", "bench/.out/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: {
        process: "readonly",
        Buffer: "readonly",
        __dirname: "readonly",
        require: "readonly",
        module: "writable",
        console: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
        setImmediate: "readonly",
        URL: "readonly",
        fetch: "readonly",
      },
    },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "error",
    },
  },
  {
    files: LAMBDA_CODE,
    rules: {
      "no-restricted-syntax": [
        "error",
        {
          selector: "ImportNamespaceSpecifier",
          message: "Use named imports in Lambda code: Pulumi serializes `import * as x` by value and the Lambda fails at run time.",
        },
        {
          selector: "ImportDeclaration[importKind!='type'] > ImportDefaultSpecifier",
          message: "Use named imports in Lambda code: a default import is wrapped by __importDefault and serialized by value.",
        },
        {
          selector:
            ":matches(Program, Program > ExportNamedDeclaration) > VariableDeclaration > VariableDeclarator > NewExpression[callee.name=/^(Set|Map|WeakMap|WeakSet)$/]",
          message: "No module-level Set/Map in Lambda code: Pulumi serializes them as empty objects. Use an array or plain object.",
        },
        {
          selector:
            ":matches(Program, Program > ExportNamedDeclaration) > VariableDeclaration > VariableDeclarator > CallExpression:has(Identifier[name='z'])",
          message:
            "No module-level zod schema in Lambda code: it cannot be serialized. Build it inside a function and keep it in the factory's closure.",
        },
      ],
    },
  },
  {
    files: ["**/*.js"],
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
);
