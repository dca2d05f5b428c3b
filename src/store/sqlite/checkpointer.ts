// A worker thread that moves the WAL into the database file. The writer connection never
// checkpoints itself: a checkpoint at COMMIT copies pages and fsyncs, synchronously, in the middle
// of a request (a quarter of a plan push's CPU here). From this thread, PASSIVE checkpoints run
// beside the writer without blocking it or the event loop.
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

const { path, intervalMs } = workerData as { path: string; intervalMs: number };
const db = new Database(path);
db.pragma('busy_timeout = 1000');

function checkpoint(mode: 'PASSIVE' | 'TRUNCATE'): void {
  try {
    db.pragma(`wal_checkpoint(${mode})`);
  } catch {
    // Busy or locked: the next round tries again; the WAL only grows a little meanwhile.
  }
}

const timer = setInterval(() => checkpoint('PASSIVE'), intervalMs);
parentPort?.on('message', (message: unknown) => {
  if (message === 'close') {
    clearInterval(timer);
    checkpoint('PASSIVE');
    db.close();
    parentPort?.postMessage('closed');
    parentPort?.close();
  }
});
