// The page of the browser suite: JupyterLab's own client library
// (@jupyterlab/services) talking to a Jupyter server with the bridge, in the
// two ways Colab's page comes in:
//
//   bridge: every REST call becomes an HTTP-over-WebSocket request frame on
//           one `http_over_websocket` socket, and kernel channels open through
//           `http_over_websocket/proxied_ws/...`, both authenticated by the
//           auth URL (`jupyter_http_over_ws_auth_url`), as Colab does;
//   direct: ServerConnection.makeSettings with the server's own URL and token
//           (cross-origin fetch with CORS, kernel WebSocket opened directly).
//
// The Python test drives one step at a time through `window.harness` and
// times it; each step resolves with what it observed or throws.

import {
  ContentsManager,
  Kernel,
  KernelAPI,
  KernelManager,
  KernelMessage,
  KernelSpecAPI,
  ServerConnection,
  Session,
  SessionAPI,
  SessionManager
} from '@jupyterlab/services';

type Way = 'bridge' | 'direct';

interface IConfig {
  way: Way;
  /** The server's URL with its base_url, e.g. http://127.0.0.1:8888/a%40b/ */
  serverUrl: string;
  token: string;
}

const PROTOCOL_MIN_VERSION = '0.0.7';
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

function log(line: string): void {
  const pre = document.getElementById('log');
  if (pre) {
    pre.textContent += line + '\n';
  }
}

function wsBase(serverUrl: string): string {
  return serverUrl.replace(/^http/, 'ws');
}

function authUrl(config: IConfig): string {
  return `${config.serverUrl}?token=${encodeURIComponent(config.token)}`;
}

function toBase64(bytes: Uint8Array): string {
  let out = '';
  const step = 0x8000;
  for (let i = 0; i < bytes.length; i += step) {
    out += String.fromCharCode(...bytes.subarray(i, i + step));
  }
  return btoa(out);
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text.replace(/\s+/g, ''));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) {
    bytes[i] = binary.charCodeAt(i);
  }
  return bytes;
}

interface IPending {
  resolve: (response: Response) => void;
  reject: (error: Error) => void;
  status?: number;
  statusText?: string;
  headers?: Record<string, string>;
  chunks: Uint8Array[];
}

/**
 * A `fetch` that sends each request as an HTTP-over-WebSocket frame on one
 * socket (opened on first use, again after it closed), like Colab's page.
 */
class BridgeFetch {
  private socket: WebSocket | null = null;
  private opening: Promise<WebSocket> | null = null;
  private pending = new Map<string, IPending>();
  private nextId = 0;
  readonly closes: Array<{ code: number; reason: string }> = [];

  constructor(private config: IConfig) {}

  readonly fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const body = new Uint8Array(await request.arrayBuffer());
    const socket = await this.open();
    const messageId = `m${++this.nextId}`;
    const frame: Record<string, string> = {
      message_id: messageId,
      method: request.method,
      path: url.pathname + url.search
    };
    if (body.length) {
      frame.body_base64 = toBase64(body);
    }
    return new Promise<Response>((resolve, reject) => {
      this.pending.set(messageId, { resolve, reject, chunks: [] });
      socket.send(JSON.stringify(frame));
    });
  };

  private open(): Promise<WebSocket> {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      return Promise.resolve(this.socket);
    }
    if (this.opening) {
      return this.opening;
    }
    const query =
      `min_version=${PROTOCOL_MIN_VERSION}` +
      `&jupyter_http_over_ws_auth_url=${encodeURIComponent(authUrl(this.config))}`;
    const socket = new WebSocket(`${wsBase(this.config.serverUrl)}http_over_websocket?${query}`);
    this.opening = new Promise<WebSocket>((resolve, reject) => {
      socket.onopen = () => {
        this.socket = socket;
        this.opening = null;
        resolve(socket);
      };
      socket.onmessage = event => this.onFrame(String(event.data));
      socket.onclose = event => {
        this.closes.push({ code: event.code, reason: event.reason });
        this.opening = null;
        this.socket = null;
        // A fetch whose socket went away fails as a network error does.
        const error = new TypeError(`bridge socket closed (${event.code} ${event.reason})`);
        for (const pending of this.pending.values()) {
          pending.reject(error);
        }
        this.pending.clear();
        reject(error);
      };
    });
    return this.opening;
  }

  private onFrame(text: string): void {
    const frame = JSON.parse(text);
    const pending = this.pending.get(frame.message_id);
    if (!pending) {
      log(`unmatched frame: ${text.slice(0, 200)}`);
      return;
    }
    if (frame.status !== undefined) {
      pending.status = frame.status;
      pending.statusText = frame.statusText;
      pending.headers = frame.headers || {};
    }
    if (frame.data) {
      pending.chunks.push(fromBase64(frame.data));
    }
    if (!frame.done) {
      return;
    }
    this.pending.delete(frame.message_id);
    const status = pending.status ?? 500;
    if (status < 200 || status > 599) {
      pending.reject(new TypeError(`bridge reply with status ${status}`));
      return;
    }
    const body = NULL_BODY_STATUSES.has(status) ? null : new Blob(pending.chunks as BlobPart[]);
    pending.resolve(
      new Response(body, { status, statusText: pending.statusText || '', headers: pending.headers })
    );
  }
}

/** A WebSocket class that opens the server's sockets through proxied_ws. */
function bridgedWebSocket(config: IConfig): typeof WebSocket {
  const base = wsBase(config.serverUrl);
  const rewrite = (url: string | URL): string => {
    const target = new URL(String(url));
    const relative = target.href.slice(base.length).split('?')[0];
    const query = new URLSearchParams(target.search);
    query.delete('token');
    query.set('jupyter_http_over_ws_auth_url', authUrl(config));
    return `${base}http_over_websocket/proxied_ws/${relative}?${query}`;
  };
  return class extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(rewrite(url), protocols);
    }
  };
}

interface IState {
  config: IConfig;
  settings: ServerConnection.ISettings;
  bridge: BridgeFetch | null;
  kernels: KernelManager;
  sessions: SessionManager;
  contents: ContentsManager;
  session: Session.ISessionConnection | null;
}

let state: IState | null = null;

function current(): IState {
  if (!state) {
    throw new Error('call harness.setup first');
  }
  return state;
}

function kernelOf(s: IState): Kernel.IKernelConnection {
  const kernel = s.session?.kernel;
  if (!kernel) {
    throw new Error('no session kernel');
  }
  return kernel;
}

interface IExecution {
  status: string;
  stdout: string;
  ename?: string;
}

async function execute(
  kernel: Kernel.IKernelConnection,
  code: string,
  onOutput?: () => void
): Promise<IExecution> {
  let stdout = '';
  const future = kernel.requestExecute({ code, stop_on_error: true });
  future.onIOPub = (msg: KernelMessage.IIOPubMessage) => {
    if (KernelMessage.isStreamMsg(msg) && msg.content.name === 'stdout') {
      stdout += msg.content.text;
      // The cell's own output, not the kernel's "busy" status (sent before the
      // code runs: an interrupt then can land before the code and be lost).
      onOutput?.();
    }
  };
  const reply = await future.done;
  const content = reply.content as KernelMessage.IExecuteReply & { ename?: string };
  return { status: content.status, stdout, ename: content.ename };
}

function pattern(size: number): Uint8Array {
  // Every byte value, in an order that a shifted or truncated copy cannot match.
  const bytes = new Uint8Array(size);
  let x = 2463534242;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

async function describeError(promise: Promise<unknown>): Promise<string | null> {
  try {
    await promise;
    return null;
  } catch (e) {
    const error = e as Error;
    return `${error.constructor?.name || 'Error'}: ${error.message}`;
  }
}

// -- Benchmark steps (benchmarks/bridge_bench/browser.py) -----------------------
// They time in the page (performance.now), so the figures hold no Playwright
// round trip. The kernel is one that already runs (started by the benchmark),
// so both ways in and the kernel's own ZMQ channels can reach the same kernel.

let benchKernel: Kernel.IKernelConnection | null = null;

function benchKernelOf(): Kernel.IKernelConnection {
  if (!benchKernel || benchKernel.isDisposed) {
    throw new Error('call harness.connectKernel first');
  }
  return benchKernel;
}

interface ITimedRequests {
  /** The last reply's status. */
  status: number;
  statuses: number[];
  /** The start of the last reply's body. */
  bodyStart: string;
  ms: number[];
}

const harness = {
  async setup(config: IConfig): Promise<string> {
    await harness.teardown();
    const bridge = config.way === 'bridge' ? new BridgeFetch(config) : null;
    const settings = bridge
      ? ServerConnection.makeSettings({
          baseUrl: config.serverUrl,
          wsUrl: wsBase(config.serverUrl),
          token: '',
          appendToken: false,
          fetch: bridge.fetch,
          WebSocket: bridgedWebSocket(config)
        })
      : ServerConnection.makeSettings({
          baseUrl: config.serverUrl,
          wsUrl: wsBase(config.serverUrl),
          token: config.token,
          appendToken: true,
          // Credentialed CORS: needs the exact origin and Allow-Credentials.
          init: { cache: 'no-store', credentials: 'include' }
        });
    const kernels = new KernelManager({ serverSettings: settings, standby: 'never' });
    const sessions = new SessionManager({ serverSettings: settings, kernelManager: kernels, standby: 'never' });
    const contents = new ContentsManager({ serverSettings: settings });
    state = { config, settings, bridge, kernels, sessions, contents, session: null };
    log(`setup ${config.way} ${config.serverUrl} from ${location.origin}`);
    return location.origin;
  },

  async kernelspecs(): Promise<{ default: string; names: string[] }> {
    const specs = await KernelSpecAPI.getSpecs(current().settings);
    return { default: specs.default, names: Object.keys(specs.kernelspecs).sort() };
  },

  async startSession(): Promise<{ session: string; kernel: string; status: string }> {
    const s = current();
    s.session = await s.sessions.startNew({
      path: `browser-${s.config.way}.ipynb`,
      type: 'notebook',
      name: `browser-${s.config.way}.ipynb`,
      kernel: { name: 'python3' }
    });
    const kernel = kernelOf(s);
    await kernel.info; // the kernel socket is open and the kernel answered
    return { session: s.session.id, kernel: kernel.id, status: kernel.connectionStatus };
  },

  async execute(code: string): Promise<IExecution> {
    return execute(kernelOf(current()), code);
  },

  async bigOutput(size: number): Promise<{ length: number; intact: boolean }> {
    const result = await execute(kernelOf(current()), `print("x" * ${size})`);
    const expected = 'x'.repeat(size) + '\n';
    return { length: result.stdout.length, intact: result.stdout === expected };
  },

  async saveAndRead(size: number): Promise<{ saved: number; read: number; identical: boolean }> {
    const s = current();
    const path = `browser-${s.config.way}.bin`;
    const bytes = pattern(size);
    const saved = await s.contents.save(path, { type: 'file', format: 'base64', content: toBase64(bytes) });
    const model = await s.contents.get(path, { type: 'file', format: 'base64', content: true });
    const back = fromBase64(model.content as string);
    let identical = back.length === bytes.length;
    for (let i = 0; identical && i < bytes.length; i++) {
      identical = back[i] === bytes[i];
    }
    return { saved: saved.size ?? -1, read: back.length, identical };
  },

  async interrupt(): Promise<IExecution & { interrupted: boolean }> {
    const kernel = kernelOf(current());
    let sleeping!: () => void;
    const started = new Promise<void>(resolve => (sleeping = resolve));
    const code = 'import time\nprint("sleeping", flush=True)\ntime.sleep(120)';
    const running = execute(kernel, code, sleeping);
    await started;
    await kernel.interrupt();
    const result = await running;
    return { ...result, interrupted: result.ename === 'KeyboardInterrupt' };
  },

  async restart(): Promise<{ before: string; after: string; status: string }> {
    const kernel = kernelOf(current());
    const before = (await execute(kernel, 'marker = 6 * 7\nprint("marker" in globals())')).stdout;
    await kernel.restart();
    await kernel.info;
    const after = (await execute(kernel, 'print("marker" in globals(), 6 * 7)')).stdout;
    return { before: before.trim(), after: after.trim(), status: kernel.status };
  },

  async shutdown(): Promise<{ sessionListed: boolean; kernelListed: boolean }> {
    const s = current();
    const session = s.session;
    if (!session) {
      throw new Error('no session');
    }
    const kernelId = kernelOf(s).id;
    await session.shutdown();
    s.session = null;
    const sessions = await SessionAPI.listRunning(s.settings);
    const kernels = await KernelAPI.listRunning(s.settings);
    return {
      sessionListed: sessions.some(m => m.id === session.id),
      kernelListed: kernels.some(m => m.id === kernelId)
    };
  },

  /** A 404 from the REST API, status and body as the page reads them. */
  async notFound(): Promise<{ status: number; body: string }> {
    const s = current();
    const response = await ServerConnection.makeRequest(
      `${s.settings.baseUrl}api/contents/no-such-file.txt`,
      {},
      s.settings
    );
    return { status: response.status, body: (await response.text()).slice(0, 200) };
  },

  /** The first operation from a page whose origin is not allowed: the error it got. */
  async refused(): Promise<{ error: string | null; closes: Array<{ code: number; reason: string }> }> {
    const s = current();
    const error = await describeError(KernelSpecAPI.getSpecs(s.settings));
    return { error, closes: s.bridge ? s.bridge.closes : [] };
  },

  async teardown(): Promise<void> {
    if (!state) {
      return;
    }
    const s = state;
    state = null;
    s.session?.dispose();
    s.sessions.dispose();
    s.kernels.dispose();
    s.contents.dispose();
  },

  /** Connect to a running kernel by id (benchmarks); replaces the previous one. */
  async connectKernel(id: string): Promise<{ kernel: string; status: string }> {
    const s = current();
    benchKernel?.dispose();
    benchKernel = s.kernels.connectTo({ model: { id, name: 'python3' } });
    await benchKernel.info; // the kernel socket is open and the kernel answered
    return { kernel: benchKernel.id, status: benchKernel.connectionStatus };
  },

  /** Close the kernel connection of connectKernel (its socket), if any. */
  async disconnectKernel(): Promise<void> {
    benchKernel?.dispose();
    benchKernel = null;
  },

  /** `n` sequential executes of `code` (request until reply and idle): ms each. */
  async timeExecute(code: string, n: number): Promise<{ ms: number[]; statuses: string[] }> {
    const kernel = benchKernelOf();
    const ms: number[] = [];
    const statuses: string[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const future = kernel.requestExecute({ code, stop_on_error: true, store_history: false });
      const reply = await future.done; // resolves once both the reply and idle arrived
      ms.push(performance.now() - t0);
      statuses.push(reply.content.status);
    }
    return { ms, statuses };
  },

  /** One execute of `code` until idle: ms, and stdout characters received. */
  async timeOutput(code: string): Promise<{ ms: number; chars: number; status: string }> {
    const kernel = benchKernelOf();
    let chars = 0;
    const t0 = performance.now();
    const future = kernel.requestExecute({ code, stop_on_error: true, store_history: false });
    future.onIOPub = (msg: KernelMessage.IIOPubMessage) => {
      if (KernelMessage.isStreamMsg(msg) && msg.content.name === 'stdout') {
        chars += msg.content.text.length;
      }
    };
    const reply = await future.done;
    return { ms: performance.now() - t0, chars, status: reply.content.status };
  },

  /**
   * `n` sequential GETs of `path` (relative to the server's URL), body read,
   * as the page makes them: ServerConnection.makeRequest with the way's
   * settings ("library"), or a plain fetch of `path?token=...` with no custom
   * header, a simple CORS request with no preflight ("plain", direct way only).
   */
  async timeRequest(path: string, n: number, how: 'library' | 'plain' = 'library'): Promise<ITimedRequests> {
    const s = current();
    const ms: number[] = [];
    const statuses: number[] = [];
    let bodyStart = '';
    const plainUrl = `${s.config.serverUrl}${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(s.config.token)}`;
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const response =
        how === 'plain'
          ? await fetch(plainUrl, { cache: 'no-store', credentials: 'include' })
          : await ServerConnection.makeRequest(`${s.settings.baseUrl}${path}`, {}, s.settings);
      const body = await response.text();
      ms.push(performance.now() - t0);
      statuses.push(response.status);
      bodyStart = body.slice(0, 80);
    }
    return { status: statuses[statuses.length - 1] ?? 0, statuses, bodyStart, ms };
  }
};

type Method = Exclude<keyof typeof harness, 'call'>;

/** The test's entry point: one step, logged on the page for the screenshot. */
async function call(method: Method, args: unknown[]): Promise<unknown> {
  log(`> ${method}`);
  try {
    const result = await (harness[method] as (...a: unknown[]) => Promise<unknown>)(...args);
    log(`  ok ${JSON.stringify(result)?.slice(0, 160)}`);
    return result;
  } catch (e) {
    log(`  FAILED ${e}`);
    throw e;
  }
}

(window as unknown as { harness: typeof harness & { call: typeof call } }).harness = {
  ...harness,
  call
};
log('harness loaded');
