// Peer for bench/run: Better Auth's session check (`GET /api/auth/get-session`) on Node, with
// its memory adapter, served by node:http through Better Auth's own Node handler.
// `node server.mjs 127.0.0.1:7090`
//
// Rate limiting is turned off: the benchmark measures the session check, and Better Auth's
// default limiter (100 requests per 10 s) would answer 429 to most of it. Everything else is
// Better Auth's default (no cookie cache: every check reads the session from the adapter).
import http from "node:http";
import { betterAuth } from "better-auth";
import { memoryAdapter } from "better-auth/adapters/memory";
import { toNodeHandler } from "better-auth/node";

const [host, port] = (process.argv[2] ?? "127.0.0.1:7090").split(":");
const baseURL = `http://${host}:${port}`;

export const auth = betterAuth({
  baseURL,
  secret: process.env.BETTER_AUTH_SECRET ?? "bench-only-secret-bench-only-secret-0123456789",
  database: memoryAdapter({ user: [], session: [], account: [], verification: [] }),
  emailAndPassword: { enabled: true },
  rateLimit: { enabled: false },
  telemetry: { enabled: false },
  logger: { level: "error" },
});

http.createServer(toNodeHandler(auth)).listen(Number(port), host, () => {
  console.log(`better-auth peer listening on ${baseURL}`);
});
