// The OTLP gRPC exporter (grpc-js, protobufjs, the OTLP transformer) in a module of its own: the build bundles it
// into dist/otlp-exporter.js, which telemetry/exporter.ts requires at the first export instead of at start.
export { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
