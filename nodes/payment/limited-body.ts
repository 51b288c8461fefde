/**
 * Reads a request body with a limit enforced while it streams: a declared Content-Length above the limit is
 * refused before a byte is read, and a body without one (chunked) is counted chunk by chunk and refused as
 * soon as it passes the limit. At most the limit (plus one chunk) is ever held in memory, so an unsigned
 * gigabyte costs what a small notification does.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export type LimitedBody =
  | { ok: true; body: Buffer }
  | { ok: false; reason: 'too-large'; declared?: number }
  | { ok: false; reason: 'aborted' };

export function readLimitedBody(req: IncomingMessage, maxBytes: number): Promise<LimitedBody> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes)
    return Promise.resolve({ ok: false, reason: 'too-large', declared: Number(declared) });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const finish = (result: LimitedBody): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('close', onClose);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > maxBytes) {
        // Stop reading: what the sender still sends is not ours to buffer.
        req.pause();
        chunks.length = 0;
        finish({ ok: false, reason: 'too-large' });
      } else chunks.push(chunk);
    };
    const onEnd = (): void => finish({ ok: true, body: Buffer.concat(chunks, total) });
    const onAbort = (): void => finish({ ok: false, reason: 'aborted' });
    const onClose = (): void => {
      if (!req.complete) onAbort();
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('close', onClose);
  });
}

/**
 * Answers 413 and reads no more of the body. The connection lingers a moment before it is closed: a sender
 * still writing reads the answer instead of losing it to a reset (closing a socket with unread data resets
 * it at once, and many HTTP clients then report the write's error, not the answer). Meanwhile nothing is
 * read: the sender's writes stall in the socket buffers, and the server holds no more than they do.
 */
export function refuseTooLarge(
  req: IncomingMessage,
  res: ServerResponse,
  maxBytes: number,
  lingerMs = 2000,
): void {
  const socket = req.socket;
  // Claim the body and stop it: a body nobody reads is read to its end and thrown away once the answer is
  // sent, which is still reading a gigabyte.
  req.read(0);
  req.pause();
  const timer = setTimeout(() => socket.destroy(), lingerMs);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  if (res.headersSent) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({
    ok: false,
    error: 'body-too-large',
    message: `the request body is larger than ${maxBytes} bytes`,
  });
  // No "Connection: close" header: Node closes such a connection right after the answer (a reset, while the
  // sender still writes). The end of the connection is said by closing our side once the answer is out.
  res.writeHead(413, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body, () => socket.end());
}
