// spec/bench/ws_node.js - the Node peer of spec/bench/ws_bench.py, on the
// `ws` package (npm; .ci/setup-npm.sh installs it into $CRATER_TOOLS).
//   node spec/bench/ws_node.js PORT
// /echo sends every message back; on /fanout a message "all:<x>" is sent
// to every connected socket, as Crater's bench app does.
const path = require("path");
const tools = process.env.CRATER_TOOLS || "/usr/local/share/crater/tools";
const { WebSocketServer } = require(path.join(tools, "node_modules", "ws"));

const wss = new WebSocketServer({ port: Number(process.argv[2]), host: "127.0.0.1", perMessageDeflate: false });
wss.on("connection", (ws, req) => {
  if (req.url === "/echo") {
    ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
  } else {
    ws.on("message", (data) => {
      const text = data.toString();
      if (text.startsWith("all:")) for (const c of wss.clients) c.send(text);
    });
  }
});
