// Preloaded into the Node.js servers LocalStack starts (NODE_OPTIONS=--require ..., set by
// tools/stack-check.sh): kinesis-local, its DynamoDB stream emulator, listens on every interface
// and has no option for the address. Every server of make stack-check listens on loopback only,
// so any listen() on a port is pointed at 127.0.0.1 whatever address it asked for.
"use strict";
const net = require("net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (first !== null && typeof first === "object" && !Array.isArray(first)) {
    if (first.path === undefined && first.handle === undefined && first.fd === undefined) {
      args[0] = { ...first, host: "127.0.0.1" };
    }
  } else if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    if (typeof args[1] === "string") args[1] = "127.0.0.1";
    else args.splice(1, 0, "127.0.0.1");
  }
  return listen.apply(this, args);
};
