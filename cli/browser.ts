/**
 * Opening a URL in the person's browser, when there is one: `open` on macOS, the URL handler on
 * Windows, `xdg-open` on a Linux desktop. On a server (no display) nothing is started; the caller
 * always prints the URL as well.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

function onPath(command: string, env: NodeJS.ProcessEnv): boolean {
  return (env.PATH ?? "").split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir, command), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The command that opens a URL here, or undefined when there is no browser to open. */
export function browserCommand(
  platform: NodeJS.Platform,
  env: NodeJS.ProcessEnv,
): { command: string; args: (url: string) => string[] } | undefined {
  if (platform === "darwin") return onPath("open", env) ? { command: "open", args: (url) => [url] } : undefined;
  if (platform === "win32") return { command: "rundll32", args: (url) => ["url.dll,FileProtocolHandler", url] };
  if (!env.DISPLAY && !env.WAYLAND_DISPLAY) return undefined;
  return onPath("xdg-open", env) ? { command: "xdg-open", args: (url) => [url] } : undefined;
}

/** Starts the browser without waiting for it; returns whether one was started. Never throws. */
export async function openBrowser(url: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const found = browserCommand(process.platform, env);
  if (!found) return false;
  try {
    const child = spawn(found.command, found.args(url), { detached: true, stdio: "ignore", env });
    child.on("error", () => undefined);
    child.unref();
    return true;
  } catch {
    return false;
  }
}
