import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

const CHECK_EVERY_MS = 50;

/**
 * Sends `signal` to the process group led by `pid` (a child spawned with `detached: true`). Windows has
 * no process groups: any signal ends the whole tree with `taskkill /T /F`. False when nothing was there.
 */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    if (process.platform === "win32") spawn("taskkill", ["/pid", String(pid), "/T", "/F"], { stdio: "ignore" }).on("error", () => {});
    else process.kill(-pid, signal);
    return true;
  } catch {
    return false; // ESRCH: the group is empty
  }
}

/**
 * Whether the group still has a running member. On Linux, /proc tells running members from zombies
 * that nobody reaps (orphans whose new parent, in a container, may never wait for them); elsewhere
 * any member counts.
 */
export function groupAlive(pid: number): boolean {
  if (process.platform === "win32") return false;
  if (process.platform === "linux") {
    try {
      return readdirSync("/proc").some((entry) => {
        if (!/^\d+$/.test(entry)) return false;
        try {
          // Fields after "(comm)": state, ppid, pgrp, …
          const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
          const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
          return Number(pgrp) === pid && state !== "Z";
        } catch {
          return false; // the process ended while we looked
        }
      });
    } catch {
      // no /proc: fall through
    }
  }
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * SIGTERM to the group, then SIGKILL after `graceMs` if any member is still running; resolves once the
 * group is gone. There is no event for a process group emptying (its members need not be our
 * children), so membership is checked every 50 ms.
 */
export async function stopGroup(pid: number, graceMs: number): Promise<void> {
  if (!signalGroup(pid, "SIGTERM")) return;
  const deadline = Date.now() + graceMs;
  let killed = false;
  while (groupAlive(pid)) {
    if (!killed && Date.now() >= deadline) {
      killed = true;
      signalGroup(pid, "SIGKILL");
    } else if (killed && Date.now() >= deadline + graceMs) {
      return; // a process stuck in the kernel: nothing more a signal can do
    }
    await new Promise((resolve) => setTimeout(resolve, CHECK_EVERY_MS));
  }
}
