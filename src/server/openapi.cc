// The OpenAPI 3 document of /api/v1, served at /api/v1/openapi.json. tests/server_test.cc
// checks that it names every route the server has, and nothing else.

#include "server/api.h"
#include "server/store_api.h"

namespace baton::server {

namespace {

constexpr char kDocument[] = R"json({
  "openapi": "3.0.3",
  "info": {
    "title": "baton server",
    "version": "1",
    "description": "Runs, step runs, artifacts and lineage, stacks and components of one baton metadata store. Every operation but health needs a bearer token (`baton server user add`, `baton server token create`)."
  },
  "servers": [{"url": "/api/v1"}],
  "security": [{"bearer": []}],
  "components": {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    "schemas": {
      "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
          "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}}
          }
        }
      },
      "Run": {
        "type": "object",
        "required": ["id", "pipeline", "status"],
        "properties": {
          "id": {"type": "string"},
          "pipeline": {"type": "string"},
          "status": {"type": "string", "enum": ["pending", "running", "completed", "failed", "stopped", "interrupted"]},
          "reason": {"type": "string"},
          "created_at": {"type": "string"},
          "ended_at": {"type": "string", "nullable": true},
          "duration_s": {"type": "number", "nullable": true},
          "snapshot": {"type": "string"},
          "stack": {"type": "string"},
          "orchestrator": {"type": "string"},
          "attempt": {"type": "integer"},
          "parameters": {"type": "object"},
          "pipeline_file": {"type": "string"},
          "tags": {"type": "array", "items": {"type": "string"}},
          "note": {"type": "string"},
          "use_cache": {"type": "boolean"},
          "schedule": {"type": "string", "nullable": true},
          "steps": {"type": "array", "items": {"$ref": "#/components/schemas/StepRun"}}
        }
      },
      "StepRun": {
        "type": "object",
        "required": ["id", "step", "attempt", "status"],
        "properties": {
          "id": {"type": "integer"},
          "step": {"type": "string"},
          "attempt": {"type": "integer"},
          "status": {"type": "string", "enum": ["running", "completed", "cached", "failed", "skipped", "stopped", "interrupted"]},
          "reason": {"type": "string"},
          "started_at": {"type": "string"},
          "duration_s": {"type": "number", "nullable": true},
          "exit_code": {"type": "integer"},
          "command": {"type": "string"},
          "log": {"type": "string"},
          "cache_key": {"type": "string"},
          "cached_from": {"type": "integer", "nullable": true},
          "metadata": {"nullable": true},
          "inputs": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Artifact"}},
          "outputs": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Artifact"}},
          "group": {"type": "string"},
          "instance": {"type": "string"}
        }
      },
      "Artifact": {
        "type": "object",
        "required": ["id", "digest"],
        "properties": {
          "id": {"type": "integer"},
          "pipeline": {"type": "string"},
          "step": {"type": "string"},
          "name": {"type": "string"},
          "version": {"type": "integer"},
          "digest": {"type": "string"},
          "size": {"type": "integer"},
          "kind": {"type": "string", "enum": ["file", "dir"]},
          "uri": {"type": "string"},
          "run": {"type": "string"},
          "step_run": {"type": "integer"},
          "created_at": {"type": "string"},
          "materializer": {"type": "string"},
          "type": {"type": "string"}
        }
      }
    },
    "responses": {
      "Error": {"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    },
    "parameters": {
      "RunId": {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}, "description": "A run id, or a unique prefix of one"}
    }
  },
  "paths": {
    "/health": {
      "get": {
        "summary": "Whether the server is up (no token needed)",
        "security": [],
        "responses": {"200": {"description": "Up", "content": {"application/json": {"schema": {"type": "object"}}}}}
      }
    },
    "/openapi.json": {
      "get": {
        "summary": "This document",
        "responses": {"200": {"description": "The document", "content": {"application/json": {"schema": {"type": "object"}}}}, "401": {"$ref": "#/components/responses/Error"}}
      }
    },
    "/whoami": {
      "get": {
        "summary": "The user, role and token of the request",
        "responses": {"200": {"description": "The principal", "content": {"application/json": {"schema": {"type": "object"}}}}, "401": {"$ref": "#/components/responses/Error"}}
      }
    },
    "/runs": {
      "get": {
        "summary": "Runs, newest first",
        "parameters": [
          {"name": "pipeline", "in": "query", "schema": {"type": "string"}},
          {"name": "status", "in": "query", "schema": {"type": "string"}},
          {"name": "tag", "in": "query", "schema": {"type": "string"}},
          {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}}
        ],
        "responses": {
          "200": {"description": "Runs", "content": {"application/json": {"schema": {"type": "object", "properties": {"runs": {"type": "array", "items": {"$ref": "#/components/schemas/Run"}}}}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "401": {"$ref": "#/components/responses/Error"},
          "403": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/runs/{id}": {
      "parameters": [{"$ref": "#/components/parameters/RunId"}],
      "get": {
        "summary": "A run with its step runs",
        "responses": {
          "200": {"description": "The run", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Run"}}}},
          "401": {"$ref": "#/components/responses/Error"},
          "403": {"$ref": "#/components/responses/Error"},
          "404": {"$ref": "#/components/responses/Error"}
        }
      },
      "patch": {
        "summary": "Change a run's tags or note (editor)",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "properties": {"tags": {"type": "array", "items": {"type": "string"}}, "note": {"type": "string"}}}}}},
        "responses": {
          "200": {"description": "The run", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Run"}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "401": {"$ref": "#/components/responses/Error"},
          "403": {"$ref": "#/components/responses/Error"},
          "404": {"$ref": "#/components/responses/Error"},
          "413": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/runs/{id}/steps": {
      "parameters": [{"$ref": "#/components/parameters/RunId"}],
      "get": {
        "summary": "A run's step runs, every attempt",
        "responses": {
          "200": {"description": "Step runs", "content": {"application/json": {"schema": {"type": "object", "properties": {"steps": {"type": "array", "items": {"$ref": "#/components/schemas/StepRun"}}}}}}},
          "401": {"$ref": "#/components/responses/Error"},
          "403": {"$ref": "#/components/responses/Error"},
          "404": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/runs/{id}/artifacts": {
      "parameters": [{"$ref": "#/components/parameters/RunId"}],
      "get": {
        "summary": "The artifacts a run made",
        "responses": {
          "200": {"description": "Artifacts", "content": {"application/json": {"schema": {"type": "object", "properties": {"artifacts": {"type": "array", "items": {"$ref": "#/components/schemas/Artifact"}}}}}}},
          "401": {"$ref": "#/components/responses/Error"},
          "403": {"$ref": "#/components/responses/Error"},
          "404": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/artifacts/{artifact}": {
      "parameters": [{"name": "artifact", "in": "path", "required": true, "schema": {"type": "string"}, "description": "An artifact id, or a digest prefix"}],
      "get": {
        "summary": "An artifact with its producer, the producer's inputs, and its consumers",
        "responses": {
          "200": {"description": "The artifact", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Artifact"}}}},
          "401": {"$ref": "#/components/responses/Error"},
          "403": {"$ref": "#/components/responses/Error"},
          "404": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/artifacts/{artifact}/content": {
      "parameters": [
        {"name": "artifact", "in": "path", "required": true, "schema": {"type": "string"}, "description": "An artifact id, or a digest prefix"},
        {"name": "path", "in": "query", "schema": {"type": "string"}, "description": "A file (or directory) inside a directory artifact: relative, without '.' or '..' segments; links that lead out of the artifact are refused"},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 0}, "description": "Send at most this many bytes (X-Baton-Truncated: 1 when cut)"}
      ],
      "get": {
        "summary": "The content of an artifact: a file's bytes (Content-Type from its name or first bytes; never rendered: Content-Security-Policy sandbox), or the entries of a directory",
        "responses": {
          "200": {"description": "The bytes, or {entries: [{path, size, kind}], truncated} for a directory", "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}, "application/json": {"schema": {"type": "object", "properties": {"entries": {"type": "array", "items": {"type": "object", "properties": {"path": {"type": "string"}, "size": {"type": "integer"}, "kind": {"type": "string", "enum": ["file", "dir", "symlink", "other"]}}}}, "truncated": {"type": "boolean"}}}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "401": {"$ref": "#/components/responses/Error"},
          "403": {"$ref": "#/components/responses/Error"},
          "404": {"$ref": "#/components/responses/Error"},
          "409": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/runs/{id}/dag": {
      "parameters": [{"$ref": "#/components/parameters/RunId"}],
      "get": {
        "summary": "The run's steps as written (a matrix or for_each step is one node) and what each waits for",
        "responses": {
          "200": {"description": "The graph", "content": {"application/json": {"schema": {"type": "object", "properties": {"run": {"type": "string"}, "pipeline": {"type": "string"}, "steps": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "needs": {"type": "array", "items": {"type": "string"}}, "instances": {"type": "boolean"}, "outputs": {"type": "array", "items": {"type": "string"}}, "when": {"type": "string"}}}}}}}}},
          "401": {"$ref": "#/components/responses/Error"},
          "403": {"$ref": "#/components/responses/Error"},
          "404": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/runs/{id}/steps/{step}/log": {
      "parameters": [
        {"$ref": "#/components/parameters/RunId"},
        {"name": "step", "in": "path", "required": true, "schema": {"type": "string"}, "description": "A step, or an instance such as train[C=0.1]"},
        {"name": "attempt", "in": "query", "schema": {"type": "integer", "minimum": 1}, "description": "Default: the latest"},
        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}, "description": "Start at this byte"},
        {"name": "follow", "in": "query", "schema": {"type": "boolean"}, "description": "Keep sending what the step writes until it ends"}
      ],
      "get": {
        "summary": "A step's log (stdout and stderr), served from the server's machine when the step ran there",
        "responses": {
          "200": {"description": "The log", "content": {"text/plain": {"schema": {"type": "string"}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "401": {"$ref": "#/components/responses/Error"},
          "403": {"$ref": "#/components/responses/Error"},
          "404": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/runs/{id}/stop": {
      "parameters": [{"$ref": "#/components/parameters/RunId"}],
      "post": {
        "summary": "Stop a running run: asked of the baton driving it through the store (it stops within about a second), and signalled at once when it runs on the server's machine",
        "responses": {
          "202": {"description": "Asked", "content": {"application/json": {"schema": {"type": "object", "properties": {"run": {"$ref": "#/components/schemas/Run"}, "stop": {"type": "string"}}}}}},
          "401": {"$ref": "#/components/responses/Error"},
          "403": {"$ref": "#/components/responses/Error"},
          "404": {"$ref": "#/components/responses/Error"},
          "409": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/runs/{id}/resume": {
      "parameters": [{"$ref": "#/components/parameters/RunId"}],
      "post": {
        "summary": "Resume a run that did not complete: `baton runs resume` in the server's workspace (editors and admins; not run tokens)",
        "responses": {
          "202": {"description": "Started", "content": {"application/json": {"schema": {"type": "object", "properties": {"run": {"$ref": "#/components/schemas/Run"}, "resumed": {"type": "boolean"}}}}}},
          "401": {"$ref": "#/components/responses/Error"},
          "403": {"$ref": "#/components/responses/Error"},
          "404": {"$ref": "#/components/responses/Error"},
          "409": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/events": {
      "parameters": [
        {"name": "run", "in": "query", "schema": {"type": "string"}, "description": "Only this run's events (a run token hears only its own run's)"},
        {"name": "Last-Event-ID", "in": "header", "schema": {"type": "string"}, "description": "Go on after this event; `reset` when it is no longer kept"}
      ],
      "get": {
        "summary": "Live events (Server-Sent Events): `ready` (read the state now), `run` (a run that appeared or changed: the run), `step` (a step run that appeared or changed: the step run with `run`), `reset` (events were missed: read the state again); a `: keepalive` comment every 15 s",
        "responses": {
          "200": {"description": "The stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
          "401": {"$ref": "#/components/responses/Error"},
          "403": {"$ref": "#/components/responses/Error"},
          "404": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/schedules": {
      "get": {
        "summary": "Schedules (baton schedule) with their next time and last run",
        "responses": {
          "200": {"description": "Schedules", "content": {"application/json": {"schema": {"type": "object", "properties": {"schedules": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "pipeline_file": {"type": "string"}, "cron": {"type": "string"}, "time_zone": {"type": "string"}, "stack": {"type": "string", "nullable": true}, "run_config": {"type": "string", "nullable": true}, "catchup": {"type": "string", "enum": ["none", "latest", "all"]}, "overlap": {"type": "string", "enum": ["skip", "queue", "allow"]}, "paused": {"type": "boolean"}, "created_at": {"type": "string"}, "last_fire": {"type": "string", "nullable": true}, "last_run": {"type": "string", "nullable": true}, "next_fire": {"type": "string", "nullable": true}}}}}}}}},
          "401": {"$ref": "#/components/responses/Error"},
          "403": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/stacks": {
      "get": {
        "summary": "Stacks, and which is active",
        "responses": {"200": {"description": "Stacks", "content": {"application/json": {"schema": {"type": "object"}}}}, "401": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}}
      }
    },
    "/components": {
      "get": {
        "summary": "Components (orchestrators, artifact stores, container registries)",
        "parameters": [{"name": "type", "in": "query", "schema": {"type": "string", "enum": ["orchestrator", "artifact_store", "container_registry"]}}],
        "responses": {"200": {"description": "Components", "content": {"application/json": {"schema": {"type": "object"}}}}, "401": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}}
      }
    },
    "/users": {
      "get": {
        "summary": "Users and service accounts (admin)",
        "responses": {"200": {"description": "Users", "content": {"application/json": {"schema": {"type": "object"}}}}, "401": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}}
      }
    },
    "/store/{method}": {
      "parameters": [{"name": "method", "in": "path", "required": true, "schema": {"type": "string"}}],
      "post": {
        "summary": "One call of the metadata store interface (what a metadata URI https://HOST:PORT sends): arguments in, result out. A batch: BeginBatch answers its id, which later calls carry in X-Baton-Batch until EndBatch commits it (AbortBatch undoes it).",
        "parameters": [{"name": "X-Baton-Batch", "in": "header", "required": false, "schema": {"type": "string"}}],
        "requestBody": {
          "required": true,
          "content": {"application/json": {"schema": {"type": "object", "required": ["args"], "properties": {"args": {"type": "array"}}}}}
        },
        "responses": {
          "200": {"description": "The method's result, and the values of the arguments it fills in", "content": {"application/json": {"schema": {"type": "object", "properties": {"result": {}, "out": {"type": "array"}}}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "401": {"$ref": "#/components/responses/Error"},
          "403": {"$ref": "#/components/responses/Error"},
          "404": {"$ref": "#/components/responses/Error"},
          "409": {"$ref": "#/components/responses/Error"},
          "503": {"$ref": "#/components/responses/Error"}
        }
      }
    }
  }
})json";

}  // namespace

std::string OpenApiDocument() {
  // The store methods come from the one list the client and the server share.
  Json doc = Json::parse(kDocument);
  Json methods = Json::array();
  for (const std::string& m : StoreApi::Methods()) methods.push_back(m);
  doc["paths"]["/store/{method}"]["parameters"][0]["schema"]["enum"] = std::move(methods);
  return doc.dump(2);
}

}  // namespace baton::server
