"""An application instrumented the standard way: the OpenAI client with
OpenTelemetry's GenAI instrumentation, exporting spans over OTLP/HTTP
(protobuf) to spendlens. The provider is a local stand-in that answers with
token usage, so nothing leaves the machine.

Usage: export_spans.py SPENDLENS_URL INGEST_TOKEN CALLS
Prints one JSON line: what the stand-in answered and what the exporter did.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from openai import OpenAI
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"


class StandIn(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        request = json.loads(self.rfile.read(length))
        body = json.dumps({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1795186800,
            "model": RESPONSE_MODEL,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "hi " + request["model"]}}],
            "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49},
        }).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Recording(OTLPSpanExporter):
    """The standard exporter, remembering whether each export succeeded."""

    results = []

    def export(self, spans):
        result = super().export(spans)
        self.results.append(result == SpanExportResult.SUCCESS)
        return result


def main():
    base, token, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
    provider_http = HTTPServer(("127.0.0.1", 0), StandIn)
    threading.Thread(target=provider_http.serve_forever, daemon=True).start()

    exporter = Recording(
        endpoint=f"{base}/v1/otlp/v1/traces",
        headers={"Authorization": f"Bearer {token}"},
    )
    tracer_provider = TracerProvider(
        resource=Resource.create({"service.name": "ide", "user.id": "dev-1"})
    )
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    OpenAIInstrumentor().instrument(tracer_provider=tracer_provider)

    client = OpenAI(
        base_url=f"http://127.0.0.1:{provider_http.server_port}/v1", api_key="sk-local"
    )
    for i in range(calls):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"call {i}"}]
        )
    tracer_provider.force_flush()
    tracer_provider.shutdown()
    provider_http.shutdown()
    print(json.dumps({"exports": len(Recording.results), "failed": Recording.results.count(False)}))
    return 0 if Recording.results and all(Recording.results) else 1


if __name__ == "__main__":
    sys.exit(main())
