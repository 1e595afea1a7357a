#!/usr/bin/env node
// Rewrites a float32 ONNX model as a float16 one (initializers, Constant tensors, graph inputs,
// outputs and value_info, Cast(to=FLOAT)), as float16 exporters do: src/onnx/float16_export.ts.
// Needs the built dist/ (npm run build:ts).
//
//   node scripts/to-float16.mjs <in.onnx> <out.onnx>
//   e.g. node scripts/to-float16.mjs ../shared/data/models/resnet20-cifar10.onnx /tmp/resnet20-fp16.onnx
import { readFileSync, writeFileSync } from 'node:fs';
import { toFloat16ModelBytes } from '../dist/onnx/float16_export.js';

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node scripts/to-float16.mjs <in.onnx> <out.onnx>');
  process.exit(2);
}
const bytes = toFloat16ModelBytes(new Uint8Array(readFileSync(input)));
writeFileSync(output, bytes);
console.log(`${output}: ${bytes.length} bytes (float16)`);
