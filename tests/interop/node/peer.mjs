// connect-node (@connectrpc/connect-node) as an interop peer of trioplugin's tests.
//
// Run from anywhere, after `npm ci` in this folder:
//
//     node peer.mjs serve [--http-version 2|1.1]
//
// serves EchoService with connectNodeAdapter on a free loopback port: h2c with
// prior knowledge (node:http2's plaintext server, the default) or HTTP/1.1
// (node:http); one Node server can't do both on one plaintext port. It prints
// the port as one line on stdout, then one JSON line per event a test may wait
// for ({"event": "sleeping", ...} when a handler starts its delay_ms, and
// {"event": "aborted", ...} when the call's AbortSignal cut it short),
// and serves until SIGTERM, SIGINT or the end of its stdin; then it exits 0.
// Its handlers mirror tests/echo_service.py: the same answers, the same
// fail_code errors with a FailureInfo detail, and `seen` reports the request's
// x- headers, connect-timeout-ms, remaining-ms (the handler's own deadline)
// and the HTTP version, and also the request's content-encoding or
// connect-content-encoding (as request-content-encoding and so on).
//
//     node peer.mjs call URL [--http-version 1.1|2] CASE...
//
// calls the EchoService at URL with connect-node's client, one scripted case
// after another (CASES below), and prints one JSON object per case on stdout.
// A Connect error is a result ({"error": {...}}); anything else exits non-zero
// with the stack on stderr.
//
// Nothing is generated: EchoService and its messages come at run time from
// echo.binpb, a FileDescriptorSet that scripts/gen-protos writes from
// tests/protos/echo.proto.

import { fstatSync, readFileSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";

import { create, createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import {
  Code,
  ConnectError,
  createClient,
  createContextKey,
  createContextValues,
} from "@connectrpc/connect";
import { codeFromString, codeToString } from "@connectrpc/connect/protocol-connect";
import {
  compressionGzip,
  connectNodeAdapter,
  createConnectTransport,
} from "@connectrpc/connect-node";

const registry = createFileRegistry(
  fromBinary(FileDescriptorSetSchema, readFileSync(new URL("echo.binpb", import.meta.url))),
);

function need(found, name) {
  if (found === undefined) {
    throw new Error(`${name} is not in echo.binpb; run scripts/gen-protos`);
  }
  return found;
}

const EchoService = need(
  registry.getService("trioplugin.test.v1.EchoService"),
  "EchoService",
);
const EchoRequestSchema = need(
  registry.getMessage("trioplugin.test.v1.EchoRequest"),
  "EchoRequest",
);
const FailureInfoSchema = need(
  registry.getMessage("trioplugin.test.v1.FailureInfo"),
  "FailureInfo",
);

const GZIP_PAYLOAD = new TextEncoder().encode("abc".repeat(10_000));

function emit(object) {
  process.stdout.write(JSON.stringify(object) + "\n");
}

// --- the server ---------------------------------------------------------------

const httpVersionKey = createContextKey("", { description: "the request's HTTP version" });
const httpMethodKey = createContextKey("", { description: "the request's HTTP method" });

function fail(request) {
  if (request.failCode) {
    const code = codeFromString(request.failCode);
    if (code === undefined) {
      throw new Error(`test asked for an unknown code ${request.failCode}`);
    }
    throw new ConnectError(`asked to fail: ${request.text}`, code, undefined, [
      { desc: FailureInfoSchema, value: { reason: request.text } },
    ]);
  }
}

// Sleeps delay_ms unless the call's signal aborts first. It reports on stdout
// that it sleeps (so a test can act while it does) and, if the signal cut the
// sleep short, the abort and its reason (the test's view of "the handler was
// cancelled"); then it throws.
async function delay(request, ctx) {
  const ms = Number(request.delayMs);
  if (ms <= 0) {
    return;
  }
  emit({ event: "sleeping", method: ctx.method.name, text: request.text, ms });
  try {
    await sleep(ms, undefined, { signal: ctx.signal });
  } catch (error) {
    if (ctx.signal.aborted) {
      const reason = ctx.signal.reason;
      emit({
        event: "aborted",
        method: ctx.method.name,
        text: request.text,
        code: reason instanceof ConnectError ? codeToString(reason.code) : null,
        reason: String(reason),
      });
    }
    throw error;
  }
}

function answer(request, ctx, index = 0) {
  const seen = {};
  for (const [key, value] of ctx.requestHeader) {
    if (key.startsWith("x-")) {
      seen[key] = value;
    }
  }
  const timeout = ctx.requestHeader.get("connect-timeout-ms");
  if (timeout !== null) {
    seen["connect-timeout-ms"] = timeout;
  }
  const remaining = ctx.timeoutMs();
  if (remaining !== undefined) {
    seen["remaining-ms"] = String(Math.round(remaining));
  }
  seen["http-version"] = ctx.values.get(httpVersionKey);
  // Reported only for GET, so the POST calls' expectations stay as they were.
  if (ctx.values.get(httpMethodKey) === "GET") {
    seen["http-method"] = "GET";
  }
  // How the request's messages were compressed, to prove a client's gzip.
  for (const key of ["content-encoding", "connect-content-encoding"]) {
    const value = ctx.requestHeader.get(key);
    if (value !== null) {
      seen[`request-${key}`] = value;
    }
  }
  const payload =
    request.payload.length > 0
      ? request.payload
      : new Uint8Array(request.responseSize).fill("x".charCodeAt(0));
  return { text: request.text, payload, index, seen };
}

const echoImpl = {
  async echo(request, ctx) {
    await delay(request, ctx);
    fail(request);
    ctx.responseHeader.set("x-echo", "1");
    ctx.responseTrailer.set("x-trailer", "done");
    return answer(request, ctx);
  },

  async put(request, ctx) {
    if (request.text === "raise") {
      throw new Error("secret internal detail");
    }
    return echoImpl.echo(request, ctx);
  },

  async *serverStream(request, ctx) {
    ctx.responseHeader.set("x-echo", "stream");
    for (let index = 0; index < request.repeat; index++) {
      yield answer(request, ctx, index);
    }
    await delay(request, ctx);
    fail(request);
    ctx.responseTrailer.set("x-count", String(request.repeat));
  },

  async clientStream(requests, ctx) {
    const texts = [];
    let last = create(EchoRequestSchema);
    for await (const request of requests) {
      fail(request);
      texts.push(request.text);
      last = request;
    }
    const merged = create(EchoRequestSchema, { text: texts.join(","), payload: last.payload });
    return answer(merged, ctx, texts.length);
  },

  async *bidi(requests, ctx) {
    let index = 0;
    for await (const request of requests) {
      fail(request);
      await delay(request, ctx);
      yield answer(request, ctx, index);
      index += 1;
    }
  },
};

function serve(httpVersion) {
  const handler = connectNodeAdapter({
    routes: (router) => router.service(EchoService, echoImpl),
    // Only the Connect protocol is under test.
    grpc: false,
    grpcWeb: false,
    contextValues: (req) =>
      createContextValues()
        .set(httpVersionKey, req.httpVersion === "2.0" ? "2" : req.httpVersion)
        .set(httpMethodKey, req.method),
  });
  const server = httpVersion === "2" ? http2.createServer(handler) : http.createServer(handler);
  const sessions = new Set();
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  let stopping = false;
  const stop = () => {
    if (stopping) {
      return;
    }
    stopping = true;
    server.close(() => process.exit(0));
    // Idle keep-alive connections would hold close() open; in-flight calls
    // get a moment, then go.
    if (httpVersion === "2") {
      for (const session of sessions) {
        session.close();
      }
    } else {
      server.closeIdleConnections();
    }
    setTimeout(() => {
      // Not a clean stop: the test that started the peer checks for 0.
      process.stderr.write("peer: connections still open after 2 s; exiting anyway\n");
      process.exit(3);
    }, 2000).unref();
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  server.listen(0, "127.0.0.1", () => {
    // The socket listens already: a client that connects now waits in its backlog.
    emit(server.address().port);
    // Only a pipe or socket on stdin ends the server when it closes; with a
    // terminal or /dev/null, only signals do.
    const stdin = fstatSync(0);
    if (stdin.isFIFO() || stdin.isSocket()) {
      process.stdin.on("end", stop);
      process.stdin.on("error", stop);
      process.stdin.resume();
    }
  });
}

// --- the client ---------------------------------------------------------------

function message(response) {
  return {
    text: response.text,
    index: response.index,
    seen: { ...response.seen },
    payload_size: response.payload.length,
  };
}

function errorJson(error) {
  const connectError = ConnectError.from(error);
  if (connectError.code === Code.Unknown && !(error instanceof ConnectError)) {
    throw error; // not a Connect error: a bug in the peer or the test
  }
  const infos = connectError.findDetails(FailureInfoSchema);
  let infoIndex = 0;
  const details = connectError.details.map((detail) => {
    const type = "desc" in detail ? detail.desc.typeName : detail.type;
    const entry = { type };
    if (type === FailureInfoSchema.typeName) {
      const info = infos[infoIndex++];
      entry.reason = info.reason;
      entry.attempt = info.attempt;
    }
    return entry;
  });
  return {
    code: codeToString(connectError.code),
    message: connectError.rawMessage,
    details,
  };
}

const REPORTED_HEADERS = new Set(["content-encoding", "connect-content-encoding"]);

// Call options that record the response's headers and trailers into `meta`.
function recording(meta, options = {}) {
  return {
    ...options,
    onHeader(headers) {
      for (const [key, value] of headers) {
        if (key.startsWith("x-") || REPORTED_HEADERS.has(key)) {
          meta.headers[key] = value;
        }
      }
    },
    onTrailer(trailers) {
      for (const [key, value] of trailers) {
        meta.trailers[key] = value;
      }
    },
  };
}

async function* each(...requests) {
  for (const request of requests) {
    yield create(EchoRequestSchema, request);
  }
}

class Caller {
  constructor(url, httpVersion) {
    this.url = url;
    this.httpVersion = httpVersion;
  }

  // A connect-node client; it sends identity unless asked for gzip.
  client({ json = false, gzip = false, get = false } = {}) {
    const transport = createConnectTransport({
      baseUrl: this.url,
      httpVersion: this.httpVersion,
      useBinaryFormat: !json,
      sendCompression: gzip ? compressionGzip : undefined,
      useHttpGet: get,
    });
    return createClient(EchoService, transport);
  }

  async unary(client, request, options = {}) {
    const meta = { headers: {}, trailers: {} };
    try {
      const response = await client.echo(request, recording(meta, options));
      return { message: message(response), ...meta };
    } catch (error) {
      return { error: errorJson(error), ...meta };
    }
  }

  // Reads a response stream to its end; `onMessage` hears each count so far.
  async collect(start, onMessage) {
    const meta = { headers: {}, trailers: {} };
    const messages = [];
    const result = {};
    try {
      for await (const response of start(recording(meta))) {
        messages.push(message(response));
        if (onMessage !== undefined) {
          onMessage(messages.length);
        }
      }
    } catch (error) {
      result.error = errorJson(error);
    }
    return { messages, ...result, ...meta };
  }

  serverStreamCall(client, request) {
    return this.collect((options) => client.serverStream(request, options));
  }

  async clientStreamCall(client, ...requests) {
    const meta = { headers: {}, trailers: {} };
    try {
      const response = await client.clientStream(each(...requests), recording(meta));
      return { message: message(response), ...meta };
    } catch (error) {
      return { error: errorJson(error), ...meta };
    }
  }

  // Echo over application/proto, with a request header.
  unary_proto() {
    return this.unary(this.client(), { text: "hello" }, { headers: { "x-trace": "abc" } });
  }

  // Echo over application/json.
  unary_json() {
    return this.unary(this.client({ json: true }), { text: "hello json" });
  }

  // Echo (side-effect free) as an HTTP GET.
  unary_get() {
    return this.unary(this.client({ get: true }), { text: "got" });
  }

  // Echo with a 5 s timeout: the server should see Connect-Timeout-Ms 5000.
  unary_timeout() {
    return this.unary(this.client(), { text: "t" }, { timeoutMs: 5000 });
  }

  // Echo that outlives a 300 ms timeout.
  deadline_exceeded() {
    return this.unary(this.client(), { text: "slow", delayMs: 10_000n }, { timeoutMs: 300 });
  }

  // Echo that fails with failed_precondition and a FailureInfo detail.
  error_details() {
    return this.unary(this.client(), { text: "why", failCode: "failed_precondition" });
  }

  // The same error, asked for over application/json.
  error_details_json() {
    return this.unary(this.client({ json: true }), { text: "why json", failCode: "not_found" });
  }

  // ServerStream of three over application/connect+proto.
  server_stream() {
    return this.serverStreamCall(this.client(), { text: "s", repeat: 3 });
  }

  // ServerStream of two over application/connect+json.
  server_stream_json() {
    return this.serverStreamCall(this.client({ json: true }), { text: "sj", repeat: 2 });
  }

  // ServerStream of two, then an aborted error with a detail in the end-of-stream.
  server_stream_error() {
    return this.serverStreamCall(this.client(), { text: "boom", repeat: 2, failCode: "aborted" });
  }

  // ClientStream of a, b, c.
  client_stream() {
    return this.clientStreamCall(this.client(), { text: "a" }, { text: "b" }, { text: "c" });
  }

  // ClientStream whose second message fails with out_of_range.
  client_stream_error() {
    return this.clientStreamCall(
      this.client(),
      { text: "a" },
      { text: "b", failCode: "out_of_range" },
    );
  }

  // ServerStream of one that then sleeps 10 s; the client aborts the call
  // (its AbortSignal) once the first answer is in.
  async server_stream_abort() {
    const client = this.client();
    const abort = new AbortController();
    const request = { text: "leave", repeat: 1, delayMs: 10_000n };
    return this.collect(
      (options) => client.serverStream(request, { ...options, signal: abort.signal }),
      () => abort.abort(),
    );
  }

  // Bidi: three requests sent and the request closed, then the answers read.
  bidi_half_duplex() {
    const client = this.client();
    const requests = [0, 1, 2].map((index) => ({ text: `half ${index}` }));
    return this.collect((options) => client.bidi(each(...requests), options));
  }

  // Bidi: three requests, each sent once the previous one is answered. It
  // can end only if the call is full duplex both ways.
  bidi() {
    const client = this.client();
    const queue = [];
    let wake = () => {};
    const put = (item) => {
      queue.push(item);
      wake();
    };
    async function* requests() {
      for (;;) {
        while (queue.length === 0) {
          await new Promise((resolve) => (wake = resolve));
        }
        const item = queue.shift();
        if (item === null) {
          return;
        }
        yield create(EchoRequestSchema, item);
      }
    }
    put({ text: "ping 0" });
    return this.collect(
      (options) => client.bidi(requests(), options),
      (count) => put(count < 3 ? { text: `ping ${count}` } : null),
    );
  }

  // A 5 MB request (over the server's 4 MiB limit), then a small one on the
  // same client: the refusal must leave the client able to call again.
  async oversize_then_next() {
    const client = this.client();
    const big = await this.unary(client, { text: "big", payload: new Uint8Array(5 * 1024 * 1024) });
    const next = await this.unary(client, { text: "next" });
    return { big, next };
  }

  // Big messages, gzip both ways: unary POST and GET, server- and client-stream.
  async gzip() {
    const client = this.client({ gzip: true });
    const getClient = this.client({ gzip: true, get: true });
    const big = { text: "z", payload: GZIP_PAYLOAD };
    const unary = await this.unary(client, big);
    const get = await this.unary(getClient, big);
    const stream = await this.serverStreamCall(client, { payload: GZIP_PAYLOAD, repeat: 2 });
    const upload = await this.clientStreamCall(client, big, big);
    return {
      payload_sizes: [
        unary.message?.payload_size ?? null,
        get.message?.payload_size ?? null,
        ...stream.messages.map((m) => m.payload_size),
        upload.message?.payload_size ?? null,
      ],
      unary,
      get,
      stream,
      upload,
    };
  }
}

const CASES = Object.getOwnPropertyNames(Caller.prototype).filter((name) =>
  /^[a-z]+(_[a-z]+)*$/.test(name) && !["constructor", "client", "unary", "collect"].includes(name),
);

async function call(url, httpVersion, cases) {
  const caller = new Caller(url, httpVersion);
  for (const name of cases) {
    const result = await caller[name]();
    emit({ case: name, ...result });
  }
}

function usage(problem) {
  process.stderr.write(
    `${problem}\n` +
      "usage: node peer.mjs serve [--http-version 2|1.1]\n" +
      "       node peer.mjs call URL [--http-version 1.1|2] CASE...\n" +
      `cases: ${CASES.join(", ")}\n`,
  );
  process.exit(2);
}

function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { "http-version": { type: "string" } },
  });
  const [command, ...rest] = positionals;
  const httpVersion = values["http-version"];
  if (httpVersion !== undefined && httpVersion !== "1.1" && httpVersion !== "2") {
    usage(`--http-version must be 1.1 or 2, not ${httpVersion}`);
  }
  if (command === "serve" && rest.length === 0) {
    serve(httpVersion ?? "2");
  } else if (command === "call" && rest.length >= 2) {
    const [url, ...cases] = rest;
    const unknown = cases.filter((name) => !CASES.includes(name));
    if (unknown.length > 0) {
      usage(`unknown cases: ${unknown.join(", ")}`);
    }
    call(url, httpVersion ?? "1.1", cases).then(
      () => process.exit(0),
      (error) => {
        process.stderr.write(`${error?.stack ?? error}\n`);
        process.exit(1);
      },
    );
  } else {
    usage("expected serve or call");
  }
}

main();
