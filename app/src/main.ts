// The service's entry point (`node dist/main.js`). Tracing starts before the service's own modules load, so the
// `http` module that Express and the server use is already patched by the http instrumentation. ES imports run in
// the order written; keep this one first.
import './instrumentation';
import './server';
