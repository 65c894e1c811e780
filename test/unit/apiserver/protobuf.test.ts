// biome-ignore-all lint/suspicious/noExplicitAny: decoded objects are schemaless JSON
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ApiError } from "../../../src/apiserver/errors.js";
import { decodeProtobufBody } from "../../../src/apiserver/protobuf.js";

/** A tiny protobuf writer for test bodies: [field, value] with strings, nested messages (arrays) and varints. */
type F = [number, string | number | Buffer | F[]];
function enc(fields: F[]): number[] {
  const out: number[] = [];
  const varint = (n: number) => {
    let v = n;
    while (v > 127) {
      out.push((v & 127) | 128);
      v = Math.floor(v / 128);
    }
    out.push(v);
  };
  for (const [no, v] of fields) {
    if (typeof v === "number") {
      varint(no << 3);
      varint(v);
      continue;
    }
    const bytes = typeof v === "string" ? [...Buffer.from(v)] : Buffer.isBuffer(v) ? [...v] : enc(v);
    varint((no << 3) | 2);
    varint(bytes.length);
    out.push(...bytes);
  }
  return out;
}

/** The `k8s\0` envelope around runtime.Unknown{typeMeta, raw}. */
function envelope(apiVersion: string, kind: string, raw: F[]): Uint8Array {
  const unknown = enc([
    [
      1,
      [
        [1, apiVersion],
        [2, kind],
      ],
    ],
    [2, Buffer.from(enc(raw))],
  ]);
  return Uint8Array.from([0x6b, 0x38, 0x73, 0x00, ...unknown]);
}

describe("protobuf request bodies", () => {
  it("decodes a Deployment as kubectl 1.32 create deployment sends it, dropping explicit zero values", () => {
    const body = envelope("apps/v1", "Deployment", [
      [
        1,
        [
          [1, "web"],
          [2, ""],
          [3, ""],
          [
            11,
            [
              [1, "app"],
              [2, "web"],
            ],
          ],
        ],
      ],
      [
        2,
        [
          [1, 2],
          [
            2,
            [
              [
                1,
                [
                  [1, "app"],
                  [2, "web"],
                ],
              ],
            ],
          ],
          [
            3,
            [
              [
                1,
                [
                  [
                    11,
                    [
                      [1, "app"],
                      [2, "web"],
                    ],
                  ],
                ],
              ],
              [
                2,
                [
                  [
                    2,
                    [
                      [1, "nginx"],
                      [2, "nginx:1"],
                      [5, ""],
                      [
                        6,
                        [
                          [3, 80],
                          [4, "TCP"],
                        ],
                      ],
                    ],
                  ],
                  [3, ""],
                ],
              ],
            ],
          ],
          [4, [[1, ""]]],
          [5, 0],
        ],
      ],
      [3, []],
    ]);
    const obj = decodeProtobufBody(body) as Record<string, any>;
    assert.equal(obj.kind, "Deployment");
    assert.equal(obj.apiVersion, "apps/v1");
    assert.deepEqual(obj.metadata, { name: "web", labels: { app: "web" } });
    assert.equal(obj.spec.replicas, 2);
    assert.deepEqual(obj.spec.selector, { matchLabels: { app: "web" } });
    assert.deepEqual(obj.spec.template.spec.containers, [
      { name: "nginx", image: "nginx:1", ports: [{ containerPort: 80, protocol: "TCP" }] },
    ]);
    assert.equal(obj.spec.strategy, undefined);
    assert.equal(obj.spec.minReadySeconds, undefined);
    assert.equal(obj.status, undefined);
  });

  it("decodes Service ports with int-or-string targetPort, and Secret data as base64", () => {
    const svc = decodeProtobufBody(
      envelope("v1", "Service", [
        [1, [[1, "s"]]],
        [
          2,
          [
            [
              1,
              [
                [1, "81-8080"],
                [2, "TCP"],
                [3, 81],
                [
                  4,
                  [
                    [1, 0],
                    [2, 8080],
                  ],
                ],
              ],
            ],
            [4, "NodePort"],
          ],
        ],
      ]),
    ) as Record<string, any>;
    assert.deepEqual(svc.spec, {
      ports: [{ name: "81-8080", protocol: "TCP", port: 81, targetPort: 8080 }],
      type: "NodePort",
    });
    const sec = decodeProtobufBody(
      envelope("v1", "Secret", [
        [1, [[1, "x"]]],
        [
          2,
          [
            [1, "k"],
            [2, "v"],
          ],
        ],
        [3, "Opaque"],
      ]),
    ) as Record<string, any>;
    assert.deepEqual(sec.data, { k: Buffer.from("v").toString("base64") });
  });

  it("other kinds are 415, a body without the envelope 400", () => {
    assert.throws(
      () => decodeProtobufBody(envelope("v1", "Pod", [[1, [[1, "p"]]]])),
      (e: unknown) => e instanceof ApiError && e.code === 415,
    );
    assert.throws(
      () => decodeProtobufBody(Uint8Array.from([1, 2, 3, 4, 5])),
      (e: unknown) => e instanceof ApiError && e.code === 400,
    );
  });
});
