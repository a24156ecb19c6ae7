// SPDX-License-Identifier: Apache-2.0
// Compiles and evaluates DRA device selectors with Buf's CEL implementation, as the scheduler
// evaluates a request's selectors against each device: every expression must be true.
//
// usage: node cel_eval.mjs CEL_DIR < input.json > output.json
//   CEL_DIR holds node_modules/@bufbuild/cel (scripts/fetch-cel prints it).
//   input: {"domains": ["gpu.nvidia.com"],
//           "selectors": {"name": ["expr", ...], ...},
//           "devices": {"name": {"driver": "...", "attributes": {"domain": {"attr": value}}}}}
//   output: {"name of selectors": {"name of device": true | false | "error: ..."}}
//
// The device variable is built as Kubernetes' DRA CEL environment builds it
// (k8s.io/dynamic-resource-allocation/cel): device.driver, device.attributes[domain][id] and
// device.capacity[domain][id]. Looking up a domain a device lacks yields an empty map there, so
// each domain named in "domains" is given to every device, empty when it has none; a JSON
// number is a CEL int. The strings extension is loaded because Kubernetes' base environment
// has it (ext.Strings version 2).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const dir = process.argv[2];
if (!dir) {
    process.stderr.write("usage: node cel_eval.mjs CEL_DIR < input.json\n");
    process.exit(2);
}
const load = (path) => import(pathToFileURL(join(dir, "node_modules", "@bufbuild", "cel", path)).href);
const cel = await load("dist/esm/index.js");
const { strings } = await load("dist/esm/ext/index.js");

function value(v) {
    if (typeof v === "number") {
        return BigInt(v);
    }
    return v;
}

function device(d, domains) {
    const attributes = new Map();
    for (const domain of domains) {
        attributes.set(domain, new Map());
    }
    for (const [domain, attrs] of Object.entries(d.attributes || {})) {
        attributes.set(domain, new Map(Object.entries(attrs).map(([k, v]) => [k, value(v)])));
    }
    const capacity = new Map();
    for (const domain of domains) {
        capacity.set(domain, new Map());
    }
    return new Map([
        ["driver", d.driver],
        ["attributes", attributes],
        ["capacity", capacity],
    ]);
}

const input = JSON.parse(readFileSync(0, "utf8"));
const env = cel.celEnv({ funcs: strings });
const out = {};
for (const [name, expressions] of Object.entries(input.selectors)) {
    // Compile each expression once (parse and plan), as the scheduler caches compiled selectors.
    const plans = [];
    let compileError = null;
    for (const e of expressions) {
        try {
            plans.push(cel.plan(env, cel.parse(e)));
        } catch (err) {
            compileError = `error: does not compile: ${err.message}`;
        }
    }
    out[name] = {};
    for (const [devName, d] of Object.entries(input.devices)) {
        if (compileError) {
            out[name][devName] = compileError;
            continue;
        }
        const bindings = { device: device(d, input.domains || []) };
        let result = true;
        for (const p of plans) {
            const r = p(bindings);
            if (cel.isCelError(r)) {
                result = `error: ${r.message}`;
                break;
            }
            if (r !== true && r !== false) {
                result = `error: not a bool: ${String(r)}`;
                break;
            }
            if (!r) {
                result = false;
                break;
            }
        }
        out[name][devName] = result;
    }
}
process.stdout.write(JSON.stringify(out, null, 2) + "\n");
