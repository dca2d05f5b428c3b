// The board (src/board) is built by Vite into dist/board, which carebridge serves at /board
// (src/api/board/static.ts). No CDN and nothing inline: the page's CSP allows this origin only.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('./src/board/', import.meta.url)),
  base: '/board/',
  publicDir: 'public',
  build: {
    outDir: fileURLToPath(new URL('./dist/board/', import.meta.url)),
    emptyOutDir: true,
    // Assets are files, never data: URLs in the CSS or inline in the page (CSP: 'self' only).
    assetsInlineLimit: 0,
    // The modulepreload polyfill would be an inline script: every browser the board supports has modulepreload.
    modulePreload: { polyfill: false },
    target: 'es2022',
    sourcemap: false,
  },
  server: {
    // `npx vite` serves the board on :5173 against a carebridge on :8080 (npm start).
    proxy: { '/auth': 'http://localhost:8080', '/board/api': 'http://localhost:8080', '/transitions': 'http://localhost:8080', '/admin': 'http://localhost:8080' },
  },
});
