// Placeholder entry point until the instrumented service lands: answers the contract's health check.
import express from 'express';

const app = express();
app.get('/healthz', (_req, res) => {
  res.status(200).json({ status: 'ok' });
});
app.listen(Number(process.env.PORT ?? 8080));
