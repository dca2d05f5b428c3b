// One /metrics answer for a whole `serve` cluster. Each worker counts its own requests; the
// workers own the port, so the worker a scrape reaches asks the primary over the cluster's IPC
// channel, the primary asks every worker for its registry (prom-client's AggregatorRegistry) and
// answers with the sum. Counters and histograms add up; of Node's process metrics, prom-client
// sums what adds up (memory, CPU) and averages the rest (event loop lag). A worker that dies takes
// its counts with it: Prometheus sees the counter go down and treats it as a reset.
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { Registry } from 'prom-client';

const REQUEST = 'carebridge:metrics-request';
const ANSWER = 'carebridge:metrics-answer';
/** prom-client gives up on workers after 5 s; the asking worker waits a little longer for the primary to say so. */
const ANSWER_TIMEOUT_MS = 6000;

interface MetricsRequest {
  type: typeof REQUEST;
  id: number;
}

interface MetricsAnswer {
  type: typeof ANSWER;
  id: number;
  text?: string;
  error?: string;
}

function isMessage<T extends { type: string }>(message: unknown, type: T['type']): message is T {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type && typeof (message as { id?: unknown }).id === 'number';
}

/** In the primary: answers workers' requests with every worker's metrics, summed. Returns how to stop. */
export function answerMetricsRequests(): () => void {
  const aggregator = new AggregatorRegistry();
  const onMessage = (worker: Worker, message: unknown): void => {
    if (!isMessage<MetricsRequest>(message, REQUEST)) {
      return;
    }
    const reply = (answer: Omit<MetricsAnswer, 'type' | 'id'>): void => {
      if (worker.isConnected()) {
        worker.send({ type: ANSWER, id: message.id, ...answer } satisfies MetricsAnswer);
      }
    };
    aggregator.clusterMetrics().then(
      (text) => reply({ text }),
      (err: unknown) => reply({ error: (err as Error).message }),
    );
  };
  cluster.on('message', onMessage);
  return () => cluster.off('message', onMessage);
}

/**
 * In a worker: lets the primary read `registry`, and gives the function that asks the primary
 * for the cluster's sum. Outside a cluster: the registry's own text.
 */
export function processMetricsText(registry: Registry): () => Promise<string> {
  if (!cluster.isWorker) {
    return () => registry.metrics();
  }
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one installs the worker's listener for the primary's requests (once per process).
  new AggregatorRegistry();
  const waiting = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();
  let next = 0;
  process.on('message', (message: unknown) => {
    if (!isMessage<MetricsAnswer>(message, ANSWER)) {
      return;
    }
    const request = waiting.get(message.id);
    if (request) {
      waiting.delete(message.id);
      clearTimeout(request.timer);
      if (message.error !== undefined || typeof message.text !== 'string') {
        request.reject(new Error(`the primary could not gather the workers' metrics: ${message.error ?? 'no answer'}`));
      } else {
        request.resolve(message.text);
      }
    }
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      if (!process.send || !process.connected) {
        reject(new Error('not connected to the primary'));
        return;
      }
      const id = next++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error('the primary did not answer'));
      }, ANSWER_TIMEOUT_MS);
      waiting.set(id, { resolve, reject, timer });
      process.send({ type: REQUEST, id } satisfies MetricsRequest);
    });
}
