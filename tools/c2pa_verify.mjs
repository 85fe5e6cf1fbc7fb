// Read C2PA manifests with the official reader (c2pa-rs built to WebAssembly,
// npm @contentauth/c2pa-wasm) and print one JSON object per file.
//
//   node tools/c2pa_verify.mjs [--pkg DIR] FILE...
//
// DIR is the node_modules folder holding @contentauth/c2pa-wasm (default:
// build/c2pa-node/node_modules, where .ci/run installs it). The format is
// taken from the file name (.png, .mp4, .c2pa). Output per file:
//   {"file", "ok", "error"?, "claim_generator", "validation_state",
//    "failures": [codes], "actions": [...], "manifest": {...}}
// "ok" is true when the reader found a manifest; judging the codes is the
// caller's business (tests/c2pa_official.sh).
import { webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

// Node 18 (Debian 12's nodejs) has no global Web Crypto; the reader's
// WebAssembly takes random bytes from globalThis.crypto where it needs any.
if (!globalThis.crypto) globalThis.crypto = webcrypto;

let args = process.argv.slice(2);
let pkg = 'build/c2pa-node/node_modules';
if (args[0] === '--pkg') { pkg = args[1]; args = args.slice(2); }
const base = join(resolve(pkg), '@contentauth', 'c2pa-wasm', 'pkg');
const c2pa = await import(pathToFileURL(join(base, 'c2pa.js')).href);
c2pa.initSync({ module: readFileSync(join(base, 'c2pa_bg.wasm')) });

const formats = { png: 'image/png', mp4: 'video/mp4', c2pa: 'application/c2pa' };
for (const file of args) {
  const ext = file.split('.').pop().toLowerCase();
  const out = { file };
  try {
    const r = await c2pa.WasmReader.fromBytes(formats[ext] || ext, new Uint8Array(readFileSync(file)));
    const store = JSON.parse(r.json());
    const m = store.manifests[store.active_manifest] || {};
    out.ok = true;
    out.validation_state = store.validation_state;
    const st = store.validation_results?.activeManifest || {};
    out.failures = (st.failure || []).map(s => s.code);
    out.failure_detail = st.failure || [];
    out.success = (st.success || []).map(s => s.code);
    out.claim_generator = m.claim_generator_info || m.claim_generator;
    const act = (m.assertions || []).find(a => a.label.startsWith('c2pa.actions'));
    out.actions = act ? act.data.actions : [];
    out.manifest = m;
  } catch (e) {
    out.ok = false;
    out.error = String(e && e.message ? e.message : e);
  }
  console.log(JSON.stringify(out));
}
