// Runs ONNX models on onnxruntime-web (WebAssembly) under Node, for `verify --runtime web`.
// One request per stdin line: {"model": path, "feeds": {name: {dims, type, data(base64)}}, "outputs": [names]};
// {"close": path} releases that model's session;
// one JSON line back per request: {"outputs": [{dims, data(base64 float32)}]} or {"error": message}.
// onnxruntime-web is looked up in KERASRNN2ONNX_ORT_WEB_DIR (see scripts/install_ort_web.sh).
import { createRequire } from "node:module";
import path from "node:path";
import readline from "node:readline";

const dir = process.env.KERASRNN2ONNX_ORT_WEB_DIR;
const require = createRequire(path.join(dir, "package.json"));
const ort = require("onnxruntime-web");
ort.env.wasm.numThreads = 1;
const sessions = new Map();
const ARRAYS = { float32: Float32Array, int32: Int32Array, int64: BigInt64Array, bool: Uint8Array };

function decode(entry) {
  const bytes = Buffer.from(entry.data, "base64");
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return new ort.Tensor(entry.type, new ARRAYS[entry.type](copy.buffer), entry.dims);
}

async function handle(line) {
  const request = JSON.parse(line);
  if (request.close) {
    const session = sessions.get(request.close);
    sessions.delete(request.close);
    if (session) await session.release();
    return { closed: request.close };
  }
  if (!sessions.has(request.model)) {
    sessions.set(request.model, await ort.InferenceSession.create(request.model, { executionProviders: ["wasm"] }));
  }
  const session = sessions.get(request.model);
  const feeds = {};
  for (const [name, entry] of Object.entries(request.feeds)) feeds[name] = decode(entry);
  const results = await session.run(feeds);
  const outputs = request.outputs.map((name) => {
    const t = results[name];
    const data = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString("base64");
    return { dims: t.dims.map(Number), type: t.type, data };
  });
  return { outputs };
}

const lines = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on("line", (line) => {
  queue = queue.then(async () => {
    let reply;
    try {
      reply = await handle(line);
    } catch (error) {
      reply = { error: String(error && error.message ? error.message : error).split("\n")[0] };
    }
    process.stdout.write(JSON.stringify(reply) + "\n");
  });
});
