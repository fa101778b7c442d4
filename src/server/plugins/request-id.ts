import type { FastifyInstance, RawRequestDefaultExpression } from "fastify";
import { generateId } from "../../workflows/index.ts";

/** Take `X-Request-ID` when it is 1–200 visible ASCII characters, else generate one. */
export function requestIdOf(req: RawRequestDefaultExpression): string {
  const given = req.headers["x-request-id"];
  if (typeof given === "string" && /^[\x21-\x7e]{1,200}$/.test(given)) return given;
  return generateId(8);
}

/** Echo the request id on every response, streams and errors included. */
export function registerRequestId(app: FastifyInstance): void {
  app.addHook("onRequest", (req, reply, done) => {
    reply.header("x-request-id", req.id);
    done();
  });
}
