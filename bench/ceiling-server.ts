// The ceiling of bench/server.ts: a bare express route answering every GET with the same bytes
// as one typical search response (the file argv[2]), on PORT at 127.0.0.1.
import express from 'express';
import { readFileSync } from 'node:fs';

const body = readFileSync(process.argv[2] as string);
const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.use((_req, res) => {
  res.setHeader('Content-Type', 'application/fhir+json; charset=utf-8');
  res.end(body);
});
app.listen(Number(process.env.PORT), '127.0.0.1');
