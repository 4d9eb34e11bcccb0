// Test harness: start the telegram-test-api Bot API emulator on 127.0.0.1.
// Usage: node server.js PORT [storeTimeoutSeconds]. Prints "ready <url>" when listening.
const TelegramServer = require('telegram-test-api');

const port = Number(process.argv[2] || 9000);
const storeTimeout = Number(process.argv[3] || 600);
const server = new TelegramServer({ port, host: '127.0.0.1', storeTimeout });
// The emulator's client routes do not await their promises: a rejected one would kill the
// process (e.g. an unreachable webhook). Log instead, so a test fails on its assertion.
process.on('unhandledRejection', (err) => {
  console.error('unhandledRejection:', err && err.message);
});
server.start().then(() => { console.log(`ready ${server.config.apiURL}`); });
const stop = async () => { await server.stop(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
