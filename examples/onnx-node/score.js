#!/usr/bin/env node
// Scores rows with a model.onnx exported by kiln, on ONNX Runtime for Node.js, and prints the
// predictions as JSON: one key per graph output (label, probabilities...), one entry per row.
//
//   node score.js MODEL.onnx ROWS.json
//
// ROWS.json: a list of rows ([[5.1, 3.5, 1.4, 0.2], ...]), or the body you would send to the
// endpoint's /score ({"input_data": [[...]]} or {"input_data": {"columns": [...], "data": [[...]]}}).
"use strict";

const fs = require("node:fs");
const ort = require("onnxruntime-node");

const TYPED_ARRAYS = { float32: Float32Array, float64: Float64Array, int64: BigInt64Array, int32: Int32Array };

function readRows(file) {
  let body = JSON.parse(fs.readFileSync(file, "utf8"));
  if (body && !Array.isArray(body) && "input_data" in body) body = body.input_data;
  if (body && !Array.isArray(body) && Array.isArray(body.data)) body = body.data;
  if (!Array.isArray(body) || body.length === 0 || !body.every((row) => Array.isArray(row))) {
    throw new Error(`${file}: expected a list of rows (lists of numbers), or a /score body with input_data`);
  }
  const width = body[0].length;
  body.forEach((row, i) => {
    if (row.length !== width) throw new Error(`${file}: row ${i} has ${row.length} values, row 0 has ${width}`);
  });
  return body;
}

function inputTensor(session, rows) {
  if (session.inputNames.length !== 1) {
    throw new Error(`the graph takes ${session.inputNames.length} inputs (${session.inputNames}); this example feeds one`);
  }
  const meta = session.inputMetadata[0];
  const type = meta && meta.isTensor ? meta.type : "float32";
  const TypedArray = TYPED_ARRAYS[type];
  if (!TypedArray) throw new Error(`the graph's input '${session.inputNames[0]}' is ${type}; this example feeds numbers`);
  const flat = rows.flat();
  const values = type === "int64" ? TypedArray.from(flat, (v) => BigInt(Math.trunc(v))) : TypedArray.from(flat);
  return new ort.Tensor(type, values, [rows.length, rows[0].length]);
}

function asRows(tensor) {
  const values = Array.from(tensor.data, (v) => (typeof v === "bigint" ? Number(v) : v));
  const [count, ...rest] = tensor.dims;
  const width = rest.reduce((a, b) => a * b, 1);
  if (tensor.dims.length <= 1) return values;
  return Array.from({ length: count }, (_, i) => values.slice(i * width, (i + 1) * width));
}

async function main(argv) {
  if (argv.length !== 2) {
    console.error("usage: node score.js MODEL.onnx ROWS.json");
    return 2;
  }
  const [modelFile, rowsFile] = argv;
  const rows = readRows(rowsFile);
  const session = await ort.InferenceSession.create(modelFile, { graphOptimizationLevel: "all" });
  // tensors only: a per-class map (skl2onnx's ZipMap) is not a tensor, and the probabilities tensor holds the same
  const tensors = session.outputNames.filter((name, i) => !session.outputMetadata[i] || session.outputMetadata[i].isTensor);
  const skipped = session.outputNames.filter((name) => !tensors.includes(name));
  if (skipped.length) console.error(`note: outputs that are not tensors are left out: ${skipped.join(", ")}`);
  const outputs = await session.run({ [session.inputNames[0]]: inputTensor(session, rows) }, tensors);
  const predictions = {};
  for (const name of tensors) predictions[name] = asRows(outputs[name]);
  console.log(JSON.stringify(predictions));
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(`error: ${error.message}`);
    process.exit(1);
  },
);
