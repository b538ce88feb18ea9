// conformance.mjs: checks agentrelay with the official MCP TypeScript SDK client (1.32.2).
//
// Connects over stdio (`agentrelay mcp --data DIR`, key in AGENTRELAY_API_KEY) as one agent and
// over Streamable HTTP (`http://127.0.0.1:PORT/mcp`, bearer key) as another, lists the tools and
// calls every tool on both transports, letting the SDK check each structuredContent against the
// tool's outputSchema. Mail goes from the stdio agent to the HTTP agent and a reply comes back.
//
// Usage: AGENTRELAY_BIN=build/agentrelay node conformance.mjs [options]
//   --data DIR        an initialised data dir (default: a fresh one, made with `init`)
//   --key KEY         the stdio agent's API key      (env AGENTRELAY_KEY;      default: a new agent)
//   --peer-key KEY    the HTTP agent's API key       (env AGENTRELAY_PEER_KEY; default: a new agent)
//   --peer-address A  the HTTP agent's address      (needed with --peer-key)
//   --address A       the stdio agent's address     (needed with --key)
//   --url URL         a running server's MCP endpoint (default: start `agentrelay serve --http`)
// Exits 0 when every check passed; otherwise prints the failed step and exits 1.
import { parseArgs } from 'node:util';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import {
    TOOLS, check, checkOutputValidation, fail, freshDataDir, log, newAgent, run, startServe, state, tapTransport, uniqueSubject
} from './lib.mjs';

// Calls a tool; a result with isError fails the step with the tool's message.
async function call(client, name, args) {
    state.step = `${client.label}: ${name}`;
    const result = await client.callTool({ name, arguments: args });
    if (result.isError) fail(`${name} returned isError: ${result.content?.map(c => c.text).join(' ')}`);
    check(result.structuredContent, `${name} returned no structuredContent`);
    const text = result.content?.find(c => c.type === 'text')?.text;
    check(text !== undefined, `${name} returned no text content block`);
    check(JSON.stringify(JSON.parse(text)) === JSON.stringify(result.structuredContent),
        `${name}: the text block is not the same JSON as structuredContent`);
    return result.structuredContent;
}

async function listTools(client) {
    state.step = `${client.label}: tools/list`;
    const { tools } = await client.listTools();  // also arms the SDK's outputSchema checks
    const names = tools.map(t => t.name).sort();
    check(JSON.stringify(names) === JSON.stringify(TOOLS), `tools/list gave ${names.join(', ')}`);
    for (const t of tools) {
        check(t.inputSchema?.type === 'object', `${t.name}: inputSchema root type is not object`);
        check(t.outputSchema?.type === 'object', `${t.name}: outputSchema root type is not object`);
        check(typeof t.description === 'string' && t.description.length > 0, `${t.name}: no description`);
        check(t.annotations?.readOnlyHint === (t.name !== 'send_email'), `${t.name}: wrong readOnlyHint`);
    }
}

async function checkErrors(client, peerAddress) {
    state.step = `${client.label}: invalid arguments`;
    const bad = await client.callTool({ name: 'send_email', arguments: { to: [peerAddress, 42], subject: 'x' } });
    check(bad.isError === true, 'send_email with a number in `to` did not return isError');
    const text = bad.content?.map(c => c.text).join(' ') ?? '';
    check(text.includes('to[1]'), `the validation message does not name to[1]: ${text}`);

    state.step = `${client.label}: unknown tool`;
    let threw = null;
    try {
        await client.callTool({ name: 'no_such_tool', arguments: {} });
    } catch (e) {
        threw = e;
    }
    check(threw && threw.code === -32602, `an unknown tool did not give JSON-RPC error -32602 (${threw})`);

    state.step = `${client.label}: check_status of an unknown message`;
    const missing = await client.callTool({ name: 'check_status', arguments: { message_id: 'no-such-message' } });
    check(missing.isError === true, 'check_status of an unknown message id did not return isError');
}

// Sends mail from `sender` to `recipient`, checks status and bounces; returns the token subject.
async function sendAndTrack(sender, recipientAddress, extra = {}) {
    const subject = uniqueSubject(sender.label);
    const sent = await call(sender, 'send_email', {
        to: recipientAddress,
        subject,
        text: `Hello from the ${sender.label} client.`,
        attachments: [{ filename: 'hello.txt', content_type: 'text/plain', content_base64: Buffer.from('hi\n').toString('base64') }],
        idempotency_key: subject,
        ...extra
    });
    check(sent.status === 'queued', `send_email status is ${sent.status}`);
    check(sent.recipients.some(r => r.address.toLowerCase() === recipientAddress.toLowerCase()),
        `send_email recipients lack ${recipientAddress}: ${JSON.stringify(sent.recipients)}`);

    const again = await call(sender, 'send_email', {
        to: recipientAddress, subject, text: 'duplicate', idempotency_key: subject
    });
    check(again.message_id === sent.message_id, 'send_email with the same idempotency_key sent a second message');

    const status = await call(sender, 'check_status', { message_id: sent.message_id });
    check(status.message_id === sent.message_id, 'check_status answered for another message');
    check(status.recipients.length >= 1, 'check_status lists no recipients');

    const bounces = await call(sender, 'list_bounces', { limit: 5 });
    check(Array.isArray(bounces.bounces), 'list_bounces gave no bounces array');
    return { subject, messageId: sent.message_id };
}

// Waits for the mail with `subject`, finds it in the inbox, reads it; returns the full message.
async function receive(client, subject, since) {
    const waited = await call(client, 'wait_for_message', { subject_contains: subject, since, timeout_seconds: 30 });
    check(waited.timed_out === false && waited.message, `wait_for_message timed out waiting for "${subject}"`);
    check(waited.message.subject === subject, `wait_for_message returned "${waited.message.subject}"`);

    const listed = await call(client, 'list_messages', { limit: 100 });
    check(listed.messages.some(m => m.id === waited.message.id), 'list_messages does not list the received mail');

    const read = await call(client, 'read_message', { id: waited.message.id, include_attachments: true });
    check(read.subject === subject, `read_message returned subject "${read.subject}"`);
    check(read.text.includes('Hello from'), `read_message text is ${JSON.stringify(read.text)}`);
    const att = read.attachments.find(a => a.filename === 'hello.txt');
    check(att && Buffer.from(att.content_base64 ?? '', 'base64').toString() === 'hi\n',
        `read_message attachments: ${JSON.stringify(read.attachments)}`);
    return read;
}

async function connectStdio(dataDir, key) {
    state.step = 'stdio: connect';
    const transport = new StdioClientTransport({
        command: process.env.AGENTRELAY_BIN,
        args: ['mcp', '--data', dataDir],
        env: { ...getDefaultEnvironment(), AGENTRELAY_API_KEY: key },
        stderr: 'pipe'
    });
    let stderr = '';
    transport.stderr?.on('data', d => (stderr += d));
    const client = new Client({ name: 'agentrelay-conformance', version: '1.0.0' });
    client.label = 'stdio';
    client.tap = tapTransport(transport);
    state.serverLogs.push(() => `agentrelay mcp stderr:\n${stderr}`);
    await client.connect(transport);
    state.cleanups.push(() => client.close());
    return client;
}

async function connectHttp(url, key) {
    state.step = 'http: connect';
    const transport = new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { Authorization: `Bearer ${key}` } }
    });
    const client = new Client({ name: 'agentrelay-conformance', version: '1.0.0' });
    client.label = 'http';
    client.tap = tapTransport(transport);
    await client.connect(transport);
    state.cleanups.push(async () => {
        await transport.terminateSession().catch(() => {});
        await client.close();
    });
    return client;
}

async function checkHttpAuth(url) {
    state.step = 'http: request without a key';
    const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' })
    });
    check(res.status === 401, `POST without a key answered ${res.status}, not 401`);
    check((res.headers.get('www-authenticate') ?? '').startsWith('Bearer'), 'the 401 has no WWW-Authenticate: Bearer');
}

async function main() {
    const { values: opt } = parseArgs({
        options: {
            data: { type: 'string' },
            key: { type: 'string' },
            address: { type: 'string' },
            'peer-key': { type: 'string' },
            'peer-address': { type: 'string' },
            url: { type: 'string' }
        }
    });
    state.step = 'set-up';
    const dataDir = opt.data ?? freshDataDir();
    const me = opt.key || process.env.AGENTRELAY_KEY
        ? { api_key: opt.key || process.env.AGENTRELAY_KEY, address: opt.address }
        : newAgent(dataDir, 'conf-a-');
    const peer = opt['peer-key'] || process.env.AGENTRELAY_PEER_KEY
        ? { api_key: opt['peer-key'] || process.env.AGENTRELAY_PEER_KEY, address: opt['peer-address'] }
        : newAgent(dataDir, 'conf-b-');
    check(me.address && peer.address, 'with --key and --peer-key, also give --address and --peer-address');
    const url = opt.url ?? (await startServe(dataDir));

    await checkHttpAuth(url);
    const stdio = await connectStdio(dataDir, me.api_key);
    const http = await connectHttp(url, peer.api_key);
    await listTools(stdio);
    await listTools(http);

    // stdio → http, then a threaded reply http → stdio.
    const since = new Date(Date.now() - 2000).toISOString();
    const first = await sendAndTrack(stdio, peer.address);
    const got = await receive(http, first.subject, since);
    const reply = await sendAndTrack(http, me.address, got.message_id ? { in_reply_to: got.message_id } : {});
    const back = await receive(stdio, reply.subject, since);
    if (got.message_id) check(back.in_reply_to === got.message_id, `the reply's in_reply_to is ${back.in_reply_to}`);

    await checkErrors(stdio, peer.address);
    await checkErrors(http, me.address);
    await checkOutputValidation(stdio, stdio.tap);
    await checkOutputValidation(http, http.tap);

    state.step = 'stdio: ping';
    await stdio.ping();
    state.step = 'http: ping';
    await http.ping();
    log('conformance', 'all checks passed (stdio and Streamable HTTP, every tool)');
}

await run('conformance', main);
