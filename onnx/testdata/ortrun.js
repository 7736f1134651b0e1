// ortrun runs ONNX models in ONNX Runtime for the parity test of package onnx (parity_test.go).
//
//	node ortrun.js ORT_DIR JOBS.json
//
// ORT_DIR is a directory where `npm install onnxruntime-node` was run. JOBS.json is a list of
// {"model": FILE, "input": FILE, "dims": [N, C, H, W], "output": FILE}: each input file holds the
// float32 values of tensor "input" (little-endian, row-major); the float32 values of the model's
// output "logits" are written to its output file, and its dims to FILE.json.
'use strict';
const fs = require('fs');

async function main() {
  const [ortDir, jobsFile] = process.argv.slice(2);
  const ort = require(require.resolve('onnxruntime-node', { paths: [ortDir] }));
  const jobs = JSON.parse(fs.readFileSync(jobsFile, 'utf8'));
  for (const job of jobs) {
    const session = await ort.InferenceSession.create(job.model, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
    });
    const buf = fs.readFileSync(job.input);
    const x = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    const out = await session.run({ input: new ort.Tensor('float32', x, job.dims) });
    const y = out.logits;
    fs.writeFileSync(job.output, Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
    fs.writeFileSync(job.output + '.json', JSON.stringify(y.dims));
    await session.release();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
