// The console's one connection to the API: gRPC-Web to the origin that served it, with the signed-in caller's
// access token on every call. Tokens live in memory only (never in storage a script could read later); the access
// token is refreshed a minute before it expires, and a refused refresh signs the caller out.

import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { DescService } from "@bufbuild/protobuf";
import { AuthService, type Caller, type TokenPair } from "./gen/gridwhistle/v1/auth_pb";
import { CaseService } from "./gen/gridwhistle/v1/case_pb";
import { SupervisionService } from "./gen/gridwhistle/v1/supervision_pb";
import { DirectoryService } from "./gen/gridwhistle/v1/directory_pb";
import { AttachmentService } from "./gen/gridwhistle/v1/attachment_pb";
import { ReportService } from "./gen/gridwhistle/v1/report_pb";
import { LedgerService } from "./gen/gridwhistle/v1/ledger_pb";
import { AdminService } from "./gen/gridwhistle/v1/admin_pb";

export interface Session {
  caller: Caller;
  accessToken: string;
  refreshToken: string;
  accessExpires: Date;
}

type Listener = (session: Session | null) => void;

let current: Session | null = null;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
const listeners = new Set<Listener>();

const authorize: Interceptor = (next) => async (req) => {
  if (current) req.header.set("authorization", `Bearer ${current.accessToken}`);
  return next(req);
};

const transport = createGrpcWebTransport({
  baseUrl: globalThis.location?.origin ?? "http://127.0.0.1:50051",
  interceptors: [authorize],
});

function client<T extends DescService>(service: T): Client<T> {
  return createClient(service, transport);
}

export const auth = client(AuthService);
export const cases = client(CaseService);
export const supervision = client(SupervisionService);
export const directory = client(DirectoryService);
export const attachments = client(AttachmentService);
export const reports = client(ReportService);
export const ledger = client(LedgerService);
export const admin = client(AdminService);

export function session(): Session | null {
  return current;
}

export function onSession(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function publish(next: Session | null): void {
  current = next;
  clearTimeout(refreshTimer);
  if (next) {
    // A minute early, and never sooner than in five seconds.
    const wait = Math.max(5_000, next.accessExpires.getTime() - Date.now() - 60_000);
    refreshTimer = setTimeout(() => void refresh(), wait);
  }
  for (const listener of listeners) listener(next);
}

function fromPair(caller: Caller, tokens: TokenPair | undefined): Session {
  if (!tokens?.accessTokenExpireTime) throw new Error("the server answered without tokens");
  return {
    caller,
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    accessExpires: timestampDate(tokens.accessTokenExpireTime),
  };
}

export async function signIn(username: string, password: string): Promise<void> {
  const answer = await auth.login({ username, password });
  if (!answer.caller) throw new Error("the server answered without a caller");
  publish(fromPair(answer.caller, answer.tokens));
}

export async function refresh(): Promise<void> {
  const was = current;
  if (!was) return;
  try {
    const answer = await auth.refreshToken({ refreshToken: was.refreshToken });
    if (current === was) publish(fromPair(was.caller, answer.tokens));
  } catch (err) {
    const refused =
      err instanceof ConnectError &&
      (err.code === Code.Unauthenticated || err.code === Code.PermissionDenied || err.code === Code.NotFound);
    if (refused) {
      publish(null);
    } else {
      // The server could not be reached: try again shortly while the access token lasts.
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(() => void refresh(), 10_000);
    }
  }
}

export async function signOut(): Promise<void> {
  const was = current;
  publish(null);
  if (was) {
    try {
      await auth.logout({ refreshToken: was.refreshToken });
    } catch {
      // Signed out here either way; the refresh token expires on its own.
    }
  }
}

/** The message of an error to show the caller, with the field the server named, if any. */
export function describe(err: unknown): string {
  if (err instanceof ConnectError) return err.rawMessage || err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * Every item of a paged list, read page after page, or its first `limit` items and more (whole pages, so a few past
 * the limit); `more` tells whether the list went on. `page` reads the page a token names ("" for the first).
 */
export async function readPages<T>(
  page: (pageToken: string) => Promise<{ items: T[]; nextPageToken: string }>,
  limit = Infinity,
): Promise<{ items: T[]; more: boolean }> {
  const items: T[] = [];
  let pageToken = "";
  do {
    const read = await page(pageToken);
    items.push(...read.items);
    pageToken = read.nextPageToken;
  } while (pageToken && items.length < limit);
  return { items, more: pageToken !== "" };
}

/** The id part of a resource name: "cases/abc" → "abc". */
export function idOf(name: string): string {
  return name.slice(name.indexOf("/") + 1);
}
