// The tests' OTLP/gRPC receiver lives in tools/traces/receiver.ts, shared with `npm run traces` (the local trace view).
export * from '../../../tools/traces/receiver';
