/**
 * Reads every error description Tollgate can put on the wire out of the source, with the
 * TypeScript compiler's parser: each `new OAuthError(code, reason, description)` and
 * `new ResourceError(...)`, following descriptions passed through helper parameters, object
 * tables indexed at run time, conditionals and templates (a `${...}` becomes a wildcard).
 * Anything it cannot follow is reported, so a new way of building a description cannot slip by.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

export interface ExtractedDescription {
  /** The description with each run-time part shown as `…`. */
  readonly text: string;
  /** Where it is built, `src/file.ts:line`. */
  readonly where: string;
}

export interface ErrorCatalog {
  readonly descriptions: readonly ExtractedDescription[];
  /** Descriptions built in a way the extractor cannot follow (the test fails on any). */
  readonly unresolved: readonly string[];
}

const errorClasses = new Set(['OAuthError', 'ResourceError', 'DpopProofError']);
const descriptionArgument = 2;
/** DpopProofError(reason, description): no protocol code in front. */
const descriptionArgumentOf = (name: string) =>
  name === 'DpopProofError' ? 1 : descriptionArgument;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Extracts every description under `srcDir`. */
export function extractErrorCatalog(srcDir: string, root: string): ErrorCatalog {
  const descriptions: ExtractedDescription[] = [];
  const unresolved: string[] = [];
  for (const file of sourceFiles(srcDir)) {
    const text = readFileSync(file, 'utf8');
    if (!/new (?:OAuthError|ResourceError)\(/.test(text)) continue;
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const where = (node: ts.Node) =>
      `${relative(root, file)}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;

    const resolve = (expr: ts.Expression, depth: number): string[] | undefined => {
      if (depth > 4) return undefined;
      if (ts.isParenthesizedExpression(expr) || ts.isAsExpression(expr))
        return resolve(expr.expression, depth);
      if (ts.isStringLiteral(expr) || ts.isNoSubstitutionTemplateLiteral(expr)) return [expr.text];
      if (ts.isTemplateExpression(expr)) {
        return [
          expr.head.text + expr.templateSpans.map((span) => `…${span.literal.text}`).join(''),
        ];
      }
      if (ts.isConditionalExpression(expr)) {
        const a = resolve(expr.whenTrue, depth + 1);
        const b = resolve(expr.whenFalse, depth + 1);
        return a === undefined || b === undefined ? undefined : [...a, ...b];
      }
      if (ts.isBinaryExpression(expr) && expr.operatorToken.kind === ts.SyntaxKind.PlusToken) {
        const left = resolve(expr.left, depth + 1) ?? ['…'];
        const right = resolve(expr.right, depth + 1) ?? ['…'];
        return left.flatMap((l) => right.map((r) => l + r));
      }
      if (ts.isElementAccessExpression(expr) && ts.isIdentifier(expr.expression)) {
        // The table may be imported from a sibling module: look in every source file.
        const table =
          findVariable(source, expr.expression.text) ??
          findVariableAnywhere(srcDir, expr.expression.text);
        if (table !== undefined && ts.isObjectLiteralExpression(table)) {
          const values = table.properties.map((p) =>
            ts.isPropertyAssignment(p) ? resolve(p.initializer, depth + 1) : undefined,
          );
          return values.some((v) => v === undefined) ? undefined : (values.flat() as string[]);
        }
        return undefined;
      }
      if (ts.isIdentifier(expr)) {
        // A parameter of the enclosing function: follow every call of that function.
        const fn = enclosingFunction(expr);
        const name = fn === undefined ? undefined : functionName(fn);
        if (fn === undefined || name === undefined) return undefined;
        const index = fn.parameters.findIndex(
          (p) => ts.isIdentifier(p.name) && p.name.text === expr.text,
        );
        if (index === -1) {
          const value = findVariable(source, expr.text);
          return value === undefined ? undefined : resolve(value, depth + 1);
        }
        const out: string[] = [];
        for (const call of callsOf(source, name)) {
          const argument = call.arguments[index];
          if (argument === undefined) continue;
          const values = resolve(argument, depth + 1);
          if (values === undefined) {
            unresolved.push(`${where(argument)}: ${argument.getText()}`);
            continue;
          }
          out.push(...values);
        }
        return out;
      }
      return undefined;
    };

    const visit = (node: ts.Node): void => {
      if (
        ts.isNewExpression(node) &&
        ts.isIdentifier(node.expression) &&
        errorClasses.has(node.expression.text)
      ) {
        const argument = node.arguments?.[descriptionArgumentOf(node.expression.text)];
        if (argument === undefined) unresolved.push(`${where(node)}: no description`);
        // A DpopProofError's description passed on as an OAuth or resource error: collected where
        // the DpopProofError is made.
        else if (argument.getText() === 'error.description') {
        } else {
          const values = resolve(argument, 0);
          if (values === undefined) unresolved.push(`${where(argument)}: ${argument.getText()}`);
          else
            for (const value of values) descriptions.push({ text: value, where: where(argument) });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return { descriptions, unresolved };
}

type FunctionLike =
  | ts.FunctionDeclaration
  | ts.ArrowFunction
  | ts.FunctionExpression
  | ts.MethodDeclaration;

function enclosingFunction(node: ts.Node): FunctionLike | undefined {
  for (let current = node.parent; current !== undefined; current = current.parent) {
    if (
      ts.isFunctionDeclaration(current) ||
      ts.isArrowFunction(current) ||
      ts.isFunctionExpression(current) ||
      ts.isMethodDeclaration(current)
    )
      return current;
  }
  return undefined;
}

function functionName(fn: FunctionLike): string | undefined {
  if ((ts.isFunctionDeclaration(fn) || ts.isMethodDeclaration(fn)) && fn.name !== undefined)
    return fn.name.getText();
  const parent = fn.parent;
  if (ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  return undefined;
}

function callsOf(source: ts.SourceFile, name: string): ts.CallExpression[] {
  const calls: ts.CallExpression[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const called = ts.isIdentifier(callee)
        ? callee.text
        : ts.isPropertyAccessExpression(callee)
          ? callee.name.text
          : undefined;
      if (called === name) calls.push(node);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return calls;
}

function findVariableAnywhere(srcDir: string, name: string): ts.Expression | undefined {
  for (const file of sourceFiles(srcDir)) {
    const text = readFileSync(file, 'utf8');
    if (!text.includes(`const ${name}`)) continue;
    const found = findVariable(ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true), name);
    if (found !== undefined) return found;
  }
  return undefined;
}

function findVariable(source: ts.SourceFile, name: string): ts.Expression | undefined {
  let found: ts.Expression | undefined;
  const visit = (node: ts.Node): void => {
    if (
      found === undefined &&
      ts.isVariableDeclaration(node) &&
      ts.isIdentifier(node.name) &&
      node.name.text === name &&
      node.initializer !== undefined
    )
      found = node.initializer;
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}
