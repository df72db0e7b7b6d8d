// A server stream kept open: it resumes after a dropped connection from the last cursor it saw, with backoff, so
// nothing is missed; it stops when the page that opened it goes away. A stream opened without a cursor starts from
// the server's now, so whatever happened before is the page's to read again: `onOpen` tells it when the server has
// taken the stream's starting point (its response headers arrived), and the page reads its lists again then.

import { useEffect, useState } from "preact/hooks";
import type { CallOptions } from "@connectrpc/connect";

export type LiveState = "live" | "reconnecting";

/**
 * Keeps the stream `open` makes running while the page is shown; none is opened when `enabled` is false (a caller the
 * stream would refuse). `onOpen` is called each time a stream without a cursor is under way (the first, and any
 * resumed before a first message gave it a cursor).
 */
export function useLive<T extends { cursor: string }>(
  open: (cursor: string, options: CallOptions) => AsyncIterable<T>,
  onMessage: (message: T) => void,
  { enabled = true, onOpen }: { enabled?: boolean; onOpen?: () => void } = {},
): LiveState {
  const [state, setState] = useState<LiveState>("reconnecting");
  useEffect(() => {
    if (!enabled) return;
    const stop = new AbortController();
    let cursor = "";
    void (async () => {
      let backoff = 500;
      while (!stop.signal.aborted) {
        try {
          setState("live");
          const fromNow = cursor === "";
          const options: CallOptions = { signal: stop.signal, onHeader: () => (fromNow ? onOpen?.() : undefined) };
          for await (const message of open(cursor, options)) {
            cursor = message.cursor || cursor;
            backoff = 500;
            onMessage(message);
          }
        } catch {
          // Dropped, or refused for now: try again from the cursor.
        }
        if (stop.signal.aborted) return;
        setState("reconnecting");
        await new Promise((resume) => setTimeout(resume, backoff));
        backoff = Math.min(backoff * 2, 15_000);
      }
    })();
    return () => stop.abort();
  }, []);
  return state;
}

/** A short tone for something new that needs attention (the browser may hold it back until the page was used). */
export function chime(): void {
  try {
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.value = 0.05;
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.15);
    tone.onended = () => void audio.close();
  } catch {
    // No sound here; the badge still shows.
  }
}
