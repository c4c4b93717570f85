// A JavaScript program in an appnet network, with nothing but the official
// NATS client (npm "nats"). It does what a Go peer does, by the rules of
// docs/PROTOCOL.md:
//
//   1. discovers the peers (one request on net.discover),
//   2. calls a Go peer's connection, and reads a flag and an error,
//   3. looks the peer up with the NATS micro API, by its ID,
//   4. joins a group and serves a connection there, which Go peers call,
//   5. emits and subscribes to events.
//
// Run it next to a Go peer:
//
//   APPNET_URL=nats://127.0.0.1:3010 node example.js
//
// Environment: APPNET_URL (a peer's NATS URL; required), APPNET_HOST (the
// address this program's ID names; default 127.0.0.1), APPNET_GROUP (the
// group it joins; default jsWorkers), APPNET_SECRET (the network's secret,
// if it has one). It runs until SIGINT or SIGTERM.

"use strict";

const net = require("node:net");
const os = require("node:os");
const { connect, headers, JSONCodec, Empty, ErrorCode, RequestStrategy } = require("nats");

const PROTOCOL = 3; // the protocol version of docs/PROTOCOL.md this program speaks
const json = JSONCodec();

// ---------------------------------------------------------------------------
// Peer IDs: URL-safe base64, without padding, of "<host>:<port> -> <group>".

function peerID(host, port, group) {
  return Buffer.from(`${host}:${port} -> ${group}`).toString("base64url");
}

function describeID(id) {
  return Buffer.from(id, "base64url").toString(); // "127.0.0.1:3010 -> None"
}

// ---------------------------------------------------------------------------
// Calling a connection.

// An error a peer answered with: code 400, 404, 500, 503 or 504.
class RemoteError extends Error {
  constructor(code, description, body) {
    super(`${code} ${description}`);
    this.code = code;
    this.description = description;
    this.body = body; // after a panic, the Go stack
  }
}

// call runs `connection` on the peer `id` with the JSON argument `arg`
// (undefined for none) and returns its answer: the JSON value, or
// { flag, detail } when the peer answered with a flag.
async function call(nc, id, connection, arg, timeoutMs = 2000) {
  return request(nc, `net.peer.${id}.call.${connection}`, arg, timeoutMs);
}

// callGroup runs `connection` on any one member of `group` that serves it.
async function callGroup(nc, group, connection, arg, timeoutMs = 2000) {
  return request(nc, `net.group.${group}.call.${connection}`, arg, timeoutMs);
}

async function request(nc, subject, arg, timeoutMs) {
  const h = headers();
  h.set("Net-Timeout", String(timeoutMs)); // the handler's context ends with our patience
  const payload = arg === undefined ? Empty : json.encode(arg);
  let reply;
  try {
    reply = await nc.request(subject, payload, { timeout: timeoutMs, headers: h });
  } catch (err) {
    if (err.code === ErrorCode.NoResponders) {
      // NATS's own 503: nobody serves the subject (the peer stopped, or
      // no member of the group serves the connection).
      throw new Error(`unreachable: nobody serves ${subject}`);
    }
    throw err; // a timeout, a closed connection
  }
  return answer(reply);
}

// answer reads a reply: a flag first, then an error code, else the value.
function answer(reply) {
  const h = reply.headers;
  const flag = h ? h.get("Net-Flag") : "";
  if (flag) {
    return { flag, detail: h.get("Nats-Service-Error") };
  }
  const code = h ? h.get("Nats-Service-Error-Code") : "";
  if (code) {
    throw new RemoteError(Number(code), h.get("Nats-Service-Error"), reply.string());
  }
  return reply.data.length === 0 ? null : json.decode(reply.data);
}

// ---------------------------------------------------------------------------
// Discovery: every peer answers net.discover with its info. Answers carry
// no count, so collect them for a moment.

async function discover(nc, waitMs = 500) {
  const peers = [];
  const replies = await nc.requestMany("net.discover", Empty, { strategy: RequestStrategy.Timer, maxWait: waitMs });
  for await (const m of replies) {
    peers.push(json.decode(m.data));
  }
  return peers;
}

// ---------------------------------------------------------------------------
// Serving: a member of a group, with an ID of its own.

// holdPort listens on a free port of host and closes every connection at
// once: while the program runs, no other program can take the address
// its ID names, and a Go peer that tries it as a NATS server (to call us
// directly) is refused at once and goes through the cluster instead.
function holdPort(host) {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => socket.destroy());
    server.once("error", reject);
    server.listen(0, host, () => resolve(server));
  });
}

// serve makes this program a peer of `group` serving `connections`
// (name -> function of the decoded argument), and answers discovery.
function serve(nc, me, connections) {
  const names = () => Object.keys(connections).sort();

  const handle = (msg, connection, inGroup) => {
    const reply = headers();
    if (inGroup) {
      reply.set("Net-Peer", me.id); // who answered a group call
    }
    const fail = (code, description, flag) => {
      reply.set("Nats-Service-Error-Code", String(code));
      reply.set("Nats-Service-Error", description);
      if (flag) reply.set("Net-Flag", flag);
      msg.respond(Empty, { headers: reply });
    };
    const fn = connections[connection];
    if (!fn) {
      return fail(404, `peer ${me.id} has no connection "${connection}"; it has: ${names().join(", ")}`, "INVALID_CONNECTION");
    }
    let arg;
    try {
      arg = msg.data.length === 0 ? undefined : json.decode(msg.data);
    } catch (err) {
      return fail(400, `argument is not JSON: ${err.message}`);
    }
    try {
      msg.respond(json.encode(fn(arg)), { headers: reply });
    } catch (err) {
      fail(500, err.message);
    }
  };

  const after = (prefix) => (subject) => subject.slice(prefix.length);
  const direct = `net.peer.${me.id}.call.`;
  const all = `net.group.${me.group}.all.`;
  const connectionOf = { direct: after(direct), all: after(all) };

  // Calls to this peer, by its ID.
  nc.subscribe(direct + ">", { callback: (_, m) => handle(m, connectionOf.direct(m.subject), false) });
  // Group calls: one queue subscription ("q") per connection, so a group
  // call reaches only members that serve it.
  for (const name of names()) {
    nc.subscribe(`net.group.${me.group}.call.${name}`, { queue: "q", callback: (_, m) => handle(m, name, true) });
  }
  // Scatter-gather: every member answers, so no queue group.
  nc.subscribe(all + ">", { callback: (_, m) => handle(m, connectionOf.all(m.subject), true) });
  // Discovery: answer with our info.
  nc.subscribe("net.discover", {
    callback: (_, m) => m.respond(json.encode({ ...me.info, connections: names() })),
  });
}

// ---------------------------------------------------------------------------
// Events: net.event.<group>.<hub|peer>.<emitter ID>.<event>, a JSON value.

function emit(nc, me, event, value) {
  nc.publish(`net.event.${me.group}.peer.${me.id}.${event}`, json.encode(value));
}

// subscribe hears `event` from every peer of `group`; the subject says who
// emitted it.
function subscribe(nc, group, event, handler) {
  return nc.subscribe(`net.event.${group}.*.*.${event}`, {
    callback: (_, m) => {
      const from = m.subject.split(".")[4];
      handler(from, json.decode(m.data));
    },
  });
}

// ---------------------------------------------------------------------------

async function main() {
  const url = process.env.APPNET_URL;
  if (!url) {
    throw new Error("APPNET_URL is not set: give a peer's NATS URL, e.g. nats://127.0.0.1:3010");
  }
  const host = process.env.APPNET_HOST || "127.0.0.1";
  const group = process.env.APPNET_GROUP || "jsWorkers";
  const nc = await connect({ servers: url, token: process.env.APPNET_SECRET, name: "appnet JavaScript example" });

  // 1. Discover.
  const peers = await discover(nc);
  for (const p of peers) {
    console.log(`peer ${p.id} (${describeID(p.id)}) serves ${p.connections.join(", ")}`);
  }
  const goPeer = peers[0];
  if (!goPeer) {
    throw new Error(`no peer answered net.discover at ${url}`);
  }

  // 2. Call a Go peer's connections: a value, a flag, two errors.
  const echoed = await call(nc, goPeer.id, "pass_through", { hello: "from JavaScript" });
  console.log(`pass_through answered ${JSON.stringify(echoed)}`);
  const flagged = await call(nc, goPeer.id, "null");
  console.log(`null answered with flag ${flagged.flag}`);
  const missing = await call(nc, goPeer.id, "no_such_connection");
  console.log(`no_such_connection answered with flag ${missing.flag}: ${missing.detail}`);
  try {
    await nc.request(`net.peer.${goPeer.id}.call.pass_through`, new TextEncoder().encode("{not json"), { timeout: 2000 })
      .then(answer);
  } catch (err) {
    console.log(`a bad argument is error ${err.code}: ${err.description}`);
  }

  // 3. The same peer through the NATS micro API: service = its group,
  //    instance ID = its peer ID.
  const micro = nc.services.client({ strategy: RequestStrategy.Timer, maxWait: 500 });
  for await (const info of await micro.info(goPeer.group, goPeer.id)) {
    console.log(`micro info ${info.name}/${info.id}: protocol ${info.metadata.protocol}, ${info.endpoints.length} endpoints`);
  }

  // 4. Join a group and serve a connection.
  const hold = await holdPort(host);
  const port = hold.address().port;
  const id = peerID(host, port, group);
  const me = {
    id,
    group,
    info: {
      id, host, port, group, hub: false, user: os.userInfo().username, executable: process.argv[1],
      cluster: "", version: "js-example", protocol: PROTOCOL, started: new Date().toISOString(),
      subscriptions: ["greeting"], flags: [], routes: [], events_dropped: 0,
    },
  };
  serve(nc, me, {
    shout: (text) => {
      if (typeof text !== "string") throw new Error(`shout wants a string, got ${JSON.stringify(text)}`);
      return text.toUpperCase();
    },
  });

  // 5. Events: answer each "greeting" from the Go peers' group with an
  //    event of our own.
  subscribe(nc, goPeer.group, "greeting", (from, value) => {
    console.log(`event greeting from ${from}: ${JSON.stringify(value)}`);
    emit(nc, me, "js.heard", { heard: value, from });
  });

  await nc.flush(); // our subscriptions are in place at the server
  console.log(`ready ${id} in group ${group}`);

  const stop = async () => {
    await nc.drain();
    hold.close();
    console.log("stopped");
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  await nc.closed();
}

main().catch((err) => {
  console.error(`error: ${err.message}`);
  process.exit(1);
});
