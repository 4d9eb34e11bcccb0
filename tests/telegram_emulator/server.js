// Test harness: start the telegram-test-api Bot API emulator on 127.0.0.1.
//
// Usage: node server.js PORT [storeTimeoutSeconds] [--limits] [--global-limit=N]
//                            [--per-chat-limit=N] [--latency-ms=N]
// Prints "ready <url>" when listening.
//
// Besides what the package emulates, this launcher adds (routes registered before the
// package's own, so its catch-all "unsupported method" answer does not shadow them):
//
// Bot API   sendPoll, sendPhoto (stored like the bot's messages, answered with a Message
//           in Bot API 9.6+ shape, which python-telegram-bot 22.8 insists on); 403 "bot was
//           blocked by the user" for chats marked blocked; with limits on, Telegram's flood
//           limits: more than N (30) messages per rolling second per bot, or more than M (1)
//           per rolling second to one private chat, are refused with 429 and
//           parameters.retry_after (only accepted messages count towards the limits);
//           with a latency, a sent message is stored at once but answered N ms later, like
//           a distant Bot API (so a crash can leave messages delivered but not confirmed).
//           getUpdates with timeout > 0 long-polls, as Telegram does: it answers as soon as
//           an update is waiting, or empty after `timeout` seconds (the package answers at
//           once, so a polling bot would spin on it).
//           getMe, sendMessage, answerCallbackQuery, edit*, getUpdates and unknown methods
//           answer as the Bot API does, so that an unmodified python-telegram-bot (and `tanya
//           run`) talks to the emulator as to Telegram: getMe has is_bot; a sent Message has
//           `from`, `date` in seconds and no request echo; callback queries carry
//           chat_instance; unknown methods get 404 {ok: false}; getUpdates honours `offset`
//           (updates stay until a later offset confirms them, as Telegram keeps them, so a
//           bot that dies before confirming gets them again) and `limit`.
//           Faults (POST /admin/faults {rate, kinds, seed}): that share of sends fails,
//           each with one of `kinds`: "400" (refused for good), "500", "502", "429"
//           (retry_after 1), "timeout" (no
//           answer until the client gives up; the message is not stored) or "reset" (the
//           connection is cut before anything is stored).
// Client    POST /sendPollAnswer {botToken, poll_id, user, option_ids}: a poll_answer update
//           POST /editMessage {botToken, message}: the user edited a message (edited_message)
//           POST /blockBot, /unblockBot {botToken, chat_ids}: the user blocks (unblocks) the bot
// Admin     GET  /admin/sent?token=T        every message the bot sent: time (ms), chat, method
//           GET  /admin/refused?token=T     every 429 answer: time (ms), chat, method
//           GET  /admin/stalls              the emulator's own pauses over 20 ms: time, lag
//           GET  /admin/edits               editMessageReplyMarkup calls (buttons taken off)
//           GET  /admin/stats?token=T       counts: sent, 429s (too_many_requests), 403s
//           GET|POST /admin/limits          read or change the flood limits at run time
//           POST /admin/latency {latency_ms} change the latency of answers to sends
//           GET  /admin/webhook             webhook deliveries: time, update_id, HTTP status
// Webhooks  after setWebhook {url, secret_token}, client updates are POSTed to the url with
//           X-Telegram-Bot-Api-Secret-Token, retried each second until a 2xx (20 tries).
const routes = require('telegram-test-api/lib/routes/index').routes;
const TelegramServer = require('telegram-test-api');
const axios = require('axios');

const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const flags = Object.fromEntries(process.argv.slice(2).filter((a) => a.startsWith('--'))
  .map((a) => { const [k, v] = a.slice(2).split('='); return [k, v === undefined ? true : v]; }));
const port = Number(positional[0] || 9000);
const storeTimeout = Number(positional[1] || 600);

const BOT_USER = { id: 666, is_bot: true, first_name: 'Test First name', username: 'TestNameBot' };
const SENDING = new Set([
  'sendMessage', 'sendPhoto', 'sendPoll', 'sendDocument', 'sendVideo', 'sendAudio',
  'sendVoice', 'sendAnimation', 'sendSticker', 'sendLocation', 'sendContact', 'copyMessage',
  'forwardMessage', 'sendMediaGroup',
]);
const WINDOW_MS = 1000;

const limits = {
  enabled: Boolean(flags.limits),
  global: Number(flags['global-limit'] || 30), // messages per rolling second, per bot
  perChat: Number(flags['per-chat-limit'] || 1), // messages per rolling second, per private chat
};
let latencyMs = Number(flags['latency-ms'] || 0);
const faults = { rate: 0, kinds: ['500'], seed: 1, injected: 0 };
const confirmed = new Map(); // token -> the offset the bot confirmed updates up to
const edits = []; // editMessageReplyMarkup calls: {chat_id, message_id, reply_markup}
const counters = new Map(); // token -> {sent, tooManyRequests, forbidden}
const sentLog = new Map(); // token -> [{time, chat_id, method}]
const refusedLog = new Map(); // token -> [{time, chat_id, method, retry_after}]: the 429s
const globalWindow = new Map(); // token -> accepted send times (ms), oldest first
const chatWindows = new Map(); // `${token}:${chat}` -> accepted send times (ms)
const blocked = new Map(); // token -> Set of chat ids (strings)
const polls = new Map(); // poll id -> {token, chatId, options, multiple}
let pollSeq = 1;

const nowMs = () => performance.timeOrigin + performance.now();
const countersOf = (token) => {
  if (!counters.has(token)) counters.set(token, { sent: 0, tooManyRequests: 0, forbidden: 0 });
  return counters.get(token);
};
const bool = (value, fallback) => {
  if (value === undefined || value === null || value === '') return fallback;
  return value === true || value === 'true' || value === 'True' || value === 1 || value === '1';
};
const json = (value, fallback) => {
  if (typeof value !== 'string') return value === undefined ? fallback : value;
  try { return JSON.parse(value); } catch (e) { return fallback; }
};

// The times in `times` (oldest first) that are still inside the rolling window at `now`.
function prune(times, now) {
  let drop = 0;
  while (drop < times.length && times[drop] <= now - WINDOW_MS) drop += 1;
  if (drop) times.splice(0, drop);
  return times;
}

function retryAfter(times, now) {
  return Math.max(1, Math.ceil((times[0] + WINDOW_MS - now) / 1000));
}

function tooMany(res, token, seconds, chatId, method) {
  countersOf(token).tooManyRequests += 1;
  if (!refusedLog.has(token)) refusedLog.set(token, []);
  refusedLog.get(token).push({
    time: nowMs(), chat_id: Number(chatId), method, retry_after: seconds,
  });
  res.status(429).json({
    ok: false,
    error_code: 429,
    description: `Too Many Requests: retry after ${seconds}`,
    parameters: { retry_after: seconds },
  });
}

// A small seeded generator (mulberry32): a benchmark's faults are the same on every run.
function random() {
  faults.seed = (faults.seed + 0x6D2B79F5) | 0;
  let t = faults.seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

function inject(req, res) {
  faults.injected += 1;
  const kind = faults.kinds[Math.floor(random() * faults.kinds.length)];
  if (kind === 'timeout') return; // never answered: the client's timeout ends it
  if (kind === 'reset') { req.socket.destroy(); return; }
  if (kind === '429') {
    res.status(429).json({
      ok: false, error_code: 429, description: 'Too Many Requests: retry after 1',
      parameters: { retry_after: 1 },
    });
    return;
  }
  const code = Number(kind) || 500;
  const descriptions = { 400: 'Bad Request: chat not found', 502: 'Bad Gateway' };
  const description = descriptions[code] || 'Internal Server Error';
  res.status(code).json({ ok: false, error_code: code, description });
}

// In front of every bot method: blocked chats, flood limits, and the log of sends.
function gate(app) {
  app.all('/bot:token/:method', (req, res, next) => {
    const { token, method } = req.params;
    if (!SENDING.has(method)) { next(); return; }
    const chatId = String((req.body || {}).chat_id);
    const now = nowMs();
    if (faults.rate > 0 && random() < faults.rate) {
      inject(req, res);
      return;
    }
    if (limits.enabled) {
      const all = prune(globalWindow.get(token) || [], now);
      globalWindow.set(token, all);
      if (all.length >= limits.global) {
        tooMany(res, token, retryAfter(all, now), chatId, method);
        return;
      }
      if (Number(chatId) > 0) {
        const key = `${token}:${chatId}`;
        const mine = prune(chatWindows.get(key) || [], now);
        chatWindows.set(key, mine);
        if (mine.length >= limits.perChat) {
          tooMany(res, token, retryAfter(mine, now), chatId, method);
          return;
        }
        mine.push(now);
      }
      all.push(now);
    }
    if ((blocked.get(token) || new Set()).has(chatId)) {
      countersOf(token).forbidden += 1;
      res.status(403).json({
        ok: false, error_code: 403, description: 'Forbidden: bot was blocked by the user',
      });
      return;
    }
    countersOf(token).sent += 1;
    if (!sentLog.has(token)) sentLog.set(token, []);
    sentLog.get(token).push({ time: now, chat_id: Number(chatId), method });
    if (latencyMs > 0) {
      const answer = res.json.bind(res);
      res.json = (body) => { setTimeout(() => answer(body), latencyMs); return res; };
    }
    next();
  });
}

// Store a message from the bot the way the package does (client getUpdates reads it) and
// answer with a Message as the Bot API would.
function sendAndAnswer(server, token, stored, fields) {
  const added = server.addBotMessage(stored, token);
  return {
    message_id: added.message_id,
    date: Math.floor(Date.now() / 1000),
    chat: { id: Number(stored.chat_id), type: 'private', first_name: 'Warga' },
    from: BOT_USER,
    ...fields,
  };
}

function sendPoll(app, server) {
  app.all('/bot:token/sendPoll', (req, res) => {
    const body = req.body || {};
    const options = json(body.options, []).map((o) => (typeof o === 'string' ? o : o.text));
    if (!body.question || options.length < 2) {
      res.status(400).json({ ok: false, error_code: 400, description: 'Bad Request: poll needs a question and 2-10 options' });
      return;
    }
    // As in Bot API 9.6+: options carry a persistent_id; allows_revoting and members_only.
    const type = body.type || 'regular';
    const poll = {
      id: String(pollSeq++),
      question: String(body.question),
      options: options.map((text, i) => ({ persistent_id: String(i), text, voter_count: 0 })),
      total_voter_count: 0,
      is_closed: false,
      is_anonymous: bool(body.is_anonymous, true),
      type,
      allows_multiple_answers: bool(body.allows_multiple_answers, false),
      allows_revoting: bool(body.allows_revoting, type === 'regular'),
      members_only: false,
    };
    polls.set(poll.id, {
      token: req.params.token, chatId: Number(body.chat_id), options: options.length,
      multiple: poll.allows_multiple_answers,
    });
    const stored = { chat_id: body.chat_id, poll };
    res.json({ ok: true, result: sendAndAnswer(server, req.params.token, stored, { poll }) });
  });
}

function sendPhoto(app, server) {
  app.all('/bot:token/sendPhoto', (req, res) => {
    const body = req.body || {};
    const photo = [{
      file_id: String(body.photo), file_unique_id: `u${pollSeq++}`, width: 800, height: 600,
    }];
    const stored = {
      chat_id: body.chat_id, photo, caption: body.caption, parse_mode: body.parse_mode,
      reply_markup: json(body.reply_markup, undefined),
    };
    const fields = body.caption === undefined ? { photo } : { photo, caption: body.caption };
    res.json({ ok: true, result: sendAndAnswer(server, req.params.token, stored, fields) });
  });
}

function sendPollAnswer(app, server) {
  app.post('/sendPollAnswer', async (req, res) => {
    const { botToken, poll_id: pollId, user } = req.body;
    const optionIds = (req.body.option_ids || []).map(Number);
    const poll = polls.get(String(pollId));
    if (!poll || poll.token !== botToken || !user) {
      res.status(400).json({ ok: false, description: 'unknown poll or no user' });
      return;
    }
    if (optionIds.some((o) => !(o >= 0 && o < poll.options))
        || (!poll.multiple && optionIds.length > 1)) {
      res.status(400).json({ ok: false, description: 'invalid option_ids' });
      return;
    }
    try {
      await server.addUserUpdate({
        ...server.getCommonFields(botToken),
        pollAnswer: {
          poll_id: String(pollId), user, option_ids: optionIds,
          option_persistent_ids: optionIds.map(String),
        },
      });
      res.json({ ok: true, result: null });
    } catch (err) {
      res.status(500).json({ ok: false, description: String(err && err.message) });
    }
  });
}

// A citizen edits a message they sent: an edited_message update, as Telegram sends it.
function editing(app, server) {
  app.post('/editMessage', async (req, res) => {
    const body = req.body || {};
    await server.addUserUpdate({
      ...server.getCommonFields(body.botToken),
      editedMessage: { ...body.message, edit_date: Math.floor(Date.now() / 1000) },
    });
    res.json({ ok: true, result: null });
  });
}

function blocking(app) {
  const change = (block) => (req, res) => {
    const { botToken } = req.body;
    if (!blocked.has(botToken)) blocked.set(botToken, new Set());
    for (const chat of req.body.chat_ids || []) {
      if (block) blocked.get(botToken).add(String(chat));
      else blocked.get(botToken).delete(String(chat));
    }
    res.json({ ok: true, result: [...blocked.get(botToken)].map(Number) });
  };
  app.post('/blockBot', change(true));
  app.post('/unblockBot', change(false));
}

function admin(app) {
  app.get('/admin/edits', (_req, res) => res.json({ ok: true, result: edits }));
  app.get('/admin/sent', (req, res) => {
    res.json({ ok: true, result: sentLog.get(String(req.query.token)) || [] });
  });
  app.get('/admin/stalls', (_req, res) => res.json({ ok: true, result: stalls }));
  app.get('/admin/webhook', (_req, res) => res.json({ ok: true, result: webhookLog }));
  app.get('/admin/refused', (req, res) => {
    res.json({ ok: true, result: refusedLog.get(String(req.query.token)) || [] });
  });
  app.get('/admin/stats', (req, res) => {
    const c = countersOf(String(req.query.token));
    res.json({
      ok: true,
      result: { sent: c.sent, too_many_requests: c.tooManyRequests, forbidden: c.forbidden },
    });
  });
  const show = () => ({
    enabled: limits.enabled, global_limit: limits.global, per_chat_limit: limits.perChat,
  });
  app.get('/admin/limits', (_req, res) => res.json({ ok: true, result: show() }));
  app.post('/admin/latency', (req, res) => {
    latencyMs = Number((req.body || {}).latency_ms || 0);
    res.json({ ok: true, result: { latency_ms: latencyMs } });
  });
  app.all('/admin/faults', (req, res) => {
    const body = req.body || {};
    if (body.rate !== undefined) faults.rate = Number(body.rate);
    if (body.kinds !== undefined) faults.kinds = body.kinds.map(String);
    if (body.seed !== undefined) faults.seed = Number(body.seed);
    res.json({ ok: true, result: { ...faults } });
  });
  app.post('/admin/limits', (req, res) => {
    const body = req.body || {};
    if (body.enabled !== undefined) limits.enabled = bool(body.enabled, false);
    if (body.global_limit !== undefined) limits.global = Number(body.global_limit);
    if (body.per_chat_limit !== undefined) limits.perChat = Number(body.per_chat_limit);
    res.json({ ok: true, result: show() });
  });
}

const param = (req, name) => {
  const body = req.body || {};
  return body[name] !== undefined ? body[name] : req.query[name];
};

// getUpdates as Telegram answers it: the updates from `offset` on (a larger offset than
// before confirms the earlier ones, which are never sent again), at most `limit`; with a
// timeout it waits (checking every 10 ms) until one is there.
function getUpdates(app, telegramServer) {
  app.all('/bot:token/getUpdates', (req, res) => {
    const { token } = req.params;
    const offset = Number(param(req, 'offset') || 0);
    if (offset > (confirmed.get(token) || 0)) confirmed.set(token, offset);
    const from = confirmed.get(token) || 0;
    const limit = Math.min(Math.max(Number(param(req, 'limit') || 100), 1), 100);
    const timeout = Number(param(req, 'timeout') || 0);
    const deadline = Date.now() + Math.min(Math.max(timeout, 0), 50) * 1000;
    const waiting = () => telegramServer.storage.userMessages
      .filter((u) => u.botToken === token && u.updateId >= from)
      .sort((a, b) => a.updateId - b.updateId)
      .slice(0, limit);
    const answer = () => {
      if (res.writableEnded) return;
      const updates = waiting();
      if (!updates.length && Date.now() < deadline) { setTimeout(answer, 10); return; }
      const result = updates.map((u) => {
        u.isRead = true;
        return standardUpdate(TelegramServer.formatUpdate(u));
      });
      res.json({ ok: true, result });
    };
    answer();
  });
}

function standardUpdate(update) {
  const query = update.callback_query;
  if (query && query.chat_instance === undefined) {
    query.chat_instance = String(((query.message || {}).chat || {}).id || 0);
  }
  if (update.message) delete update.message.botToken;
  return update;
}

// A Message as the Bot API returns it for the request the bot made.
function standardMessage(result) {
  const message = { ...result, from: BOT_USER };
  if (message.date > 1e11) message.date = Math.floor(message.date / 1000);
  for (const key of ['chat_id', 'parse_mode', 'link_preview_options', 'botToken']) delete message[key];
  if (typeof message.reply_markup === 'string') message.reply_markup = json(message.reply_markup);
  if (message.reply_markup === undefined) delete message.reply_markup;
  return message;
}

function standard(app, server) {
  app.all('/bot:token/getMe', (_req, res) => res.json({ ok: true, result: BOT_USER }));
  app.all('/bot:token/sendMessage', (req, res) => {
    const body = req.body || {};
    if (body.chat_id === undefined || (body.text === undefined && !body.photo)) {
      res.status(400).json({ ok: false, error_code: 400, description: 'Bad Request: message text is empty' });
      return;
    }
    const added = server.addBotMessage(body, req.params.token);
    res.json({ ok: true, result: standardMessage(added) });
  });
  app.all('/bot:token/editMessageReplyMarkup', (req, res) => {
    const body = req.body || {};
    edits.push({
      chat_id: Number(body.chat_id), message_id: Number(body.message_id),
      reply_markup: json(body.reply_markup, null),
    });
    res.json({ ok: true, result: true });
  });
  for (const method of ['answerCallbackQuery', 'editMessageText',
    'deleteMessage', 'setMyCommands', 'setChatMenuButton']) {
    app.all(`/bot:token/${method}`, (_req, res) => res.json({ ok: true, result: true }));
  }
}

// Last: a method neither the package nor this launcher knows, as Telegram answers it.
function notFound(app) {
  app.all('/bot:token/:method', (req, res, next) => {
    const known = ['getUpdates', 'setWebhook', 'deleteWebhook'];
    if (known.includes(req.params.method)) { next(); return; }
    res.status(404).json({ ok: false, error_code: 404, description: 'Not Found' });
  });
}

// First in the list: the constructor registers routes in this order.
routes.unshift(
  gate, getUpdates, standard, sendPoll, sendPhoto, sendPollAnswer, editing, blocking, admin,
  notFound,
);

const formatUpdate = TelegramServer.formatUpdate;
TelegramServer.formatUpdate = (update) => {
  if ('pollAnswer' in update) {
    return { update_id: update.updateId, poll_answer: update.pollAnswer };
  }
  if ('editedMessage' in update) {
    return { update_id: update.updateId, edited_message: update.editedMessage };
  }
  return formatUpdate(update);
};

// Webhook mode as Telegram does it: every update is POSTed to the registered URL with the
// secret_token given to setWebhook in the X-Telegram-Bot-Api-Secret-Token header (the
// package posts without it); an update the bot does not take with a 2xx is kept and posted
// again a second later, up to 20 times (Telegram retries for longer; a test needs an end).
const WEBHOOK_RETRIES = 20;
const webhookLog = []; // {time, update_id, status}: every delivery attempt
TelegramServer.prototype.addUserUpdate = async function addUserUpdate(update) {
  const webhook = this.webhooks[update.botToken];
  if (!webhook) {
    this.storage.userMessages.push(update);
    this.updateId++;
    return;
  }
  this.updateId++;
  const body = TelegramServer.formatUpdate(update);
  const headers = webhook.secret_token
    ? { 'X-Telegram-Bot-Api-Secret-Token': String(webhook.secret_token) } : {};
  for (let attempt = 0; attempt < WEBHOOK_RETRIES; attempt += 1) {
    let status = 0;
    try {
      const resp = await axios({
        url: webhook.url, method: 'POST', data: body, headers, validateStatus: () => true,
      });
      status = resp.status;
    } catch (err) {
      status = -1; // the bot is not reachable
    }
    webhookLog.push({ time: nowMs(), update_id: body.update_id, status });
    if (status >= 200 && status < 300) return;
    await new Promise((resolve) => { setTimeout(resolve, 1000); });
  }
};

const server = new TelegramServer({ port, host: '127.0.0.1', storeTimeout });
server.webhookLog = webhookLog;
// The emulator's client routes do not await their promises: a rejected one would kill the
// process (e.g. an unreachable webhook). Log instead, so a test fails on its assertion.
process.on('unhandledRejection', (err) => {
  console.error('unhandledRejection:', err && err.message);
});
// The emulator's own stalls (GC, a busy CPU): messages that arrive meanwhile are stamped
// together when it resumes, which counts them in later windows than they were sent in. Each
// stall over 20 ms is noted, so a benchmark can tell such 429s from the bot's bursts.
const stalls = [];
let tick = nowMs();
setInterval(() => {
  const now = nowMs();
  const lag = now - tick - 5;
  if (lag > 20 && stalls.length < 10000) stalls.push({ time: now, lag_ms: Math.round(lag) });
  tick = now;
}, 5).unref();
// Forget per-chat windows that have emptied, so memory stays flat for large audiences.
setInterval(() => {
  const now = nowMs();
  for (const [key, times] of chatWindows) if (!prune(times, now).length) chatWindows.delete(key);
}, 5000).unref();
server.start().then(() => { console.log(`ready ${server.config.apiURL}`); });
const stop = async () => { await server.stop(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
