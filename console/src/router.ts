// The console's pages live under /console/; links change the address without reloading.

import { useEffect, useState } from "preact/hooks";

const BASE = "/console/";

export function path(): string {
  const p = location.pathname;
  return p.startsWith(BASE) ? p.slice(BASE.length) : "";
}

export function go(to: string): void {
  history.pushState(null, "", BASE + to);
  dispatchEvent(new PopStateEvent("popstate"));
}

export function usePath(): string {
  const [current, setCurrent] = useState(path());
  useEffect(() => {
    const changed = () => setCurrent(path());
    addEventListener("popstate", changed);
    return () => removeEventListener("popstate", changed);
  }, []);
  return current;
}

/** Ticks every second, for countdowns. */
export function useNow(): Date {
  const [now, setNow] = useState(new Date());
  useEffect(() => {
    const timer = setInterval(() => setNow(new Date()), 1000);
    return () => clearInterval(timer);
  }, []);
  return now;
}
