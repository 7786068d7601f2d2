/**
 * The one request the libraries cannot make without holding the message in memory: the PUT of a resumable
 * upload, streamed from the message store with node:http(s) and `pipeline`, so the body flows at the
 * speed Gmail takes it.
 *
 * Measured on Node 24 (a 40 MB and a 120 MB message into a local server, peak RSS above the warm process):
 * - the Gmail client's own media upload (`users.messages.import` with `media.body` a stream, which it sends
 *   as one multipart request) stays flat with gaxios's default transport, node-fetch (+10 MiB either way),
 *   but with the runtime's `fetch` (undici) it holds the body (+64 MiB, +139 MiB);
 * - this PUT stays flat (+18 MiB, +12 MiB).
 * On Node 20, fetch with a streamed body held the body too (+125 MB for 120 MB).
 */
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import { pipeline } from "node:stream/promises";

/** A response body we keep (Gmail's Message resource, an error): a few KB; anything beyond is dropped. */
const RESPONSE_BODY_MAX_BYTES = 64 * 1024;

export interface StreamedResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The response body (bounded), as text. */
  readonly text: string;
}

/**
 * PUTs a stream with node:http(s) and `pipeline`. Resolves with the response even when the server
 * answers before taking the whole body (an early 4xx); rejects on a network failure or when the body
 * stream fails.
 */
export function putStream(url: URL, headers: Record<string, string>, body: NodeJS.ReadableStream): Promise<StreamedResponse> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const request = send(url, { method: "PUT", headers });
    let answered = false;
    request.on("response", (response) => {
      answered = true;
      const chunks: Buffer[] = [];
      let size = 0;
      response.on("data", (chunk: Buffer) => {
        if (size < RESPONSE_BODY_MAX_BYTES) chunks.push(chunk);
        size += chunk.length;
      });
      response.on("end", () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString("utf8") }),
      );
      response.on("error", reject);
    });
    request.on("error", (error) => {
      if (!answered) reject(error);
    });
    // A failing body destroys the request, whose "error" rejects; an early answer ends the pipeline harmlessly.
    pipeline(body, request).catch(() => undefined);
  });
}
