// conformance-modern.mjs: checks agentrelay with the official MCP TypeScript client v2
// (@modelcontextprotocol/client 2.4.0), which speaks protocol revision 2026-07-28.
//
// For each negotiation mode, `{mode: 'auto'}` (probe with server/discover, fall back to
// initialize) and `{mode: {pin: '2026-07-28'}}` (2026-07-28 or fail), it connects over stdio
// (`agentrelay mcp --data DIR`, key in AGENTRELAY_API_KEY) as one agent and over Streamable HTTP
// (`agentrelay serve --http`, bearer key) as another, and checks that both negotiate 2026-07-28,
// then runs server/discover, tools/list and tools/call of every tool (the client checks each
// structuredContent against the tool's outputSchema). Mail goes from the stdio agent to the HTTP
// agent and a reply comes back. A `{mode: 'legacy'}` round checks the same client still gets
// the handshake era. Every message on the wire is recorded and checked against the 2026-07-28
// rules: the _meta protocol version on every request, resultType "complete" on every result,
// ttlMs and cacheScope on list results, Mcp-Method / Mcp-Name headers and no session over HTTP.
//
// Usage: AGENTRELAY_BIN=build/agentrelay node conformance-modern.mjs
// Exits 0 when every check passed; otherwise prints the failed step and exits 1.
import { Client, ProtocolError, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/client/stdio';

import {
    TOOLS, check, checkOutputValidation, fail, freshDataDir, log, newAgent, run, startServe, state, tapTransport, uniqueSubject
} from './lib.mjs';

const MODERN = '2026-07-28';
const META_VERSION = 'io.modelcontextprotocol/protocolVersion';
const MODES = [
    { label: 'auto', negotiation: { mode: 'auto' }, era: 'modern' },
    { label: 'pin', negotiation: { mode: { pin: MODERN } }, era: 'modern' },
    { label: 'legacy', negotiation: { mode: 'legacy' }, era: 'legacy' }
];

// A fetch that records each HTTP exchange (request headers and body, response status and headers).
function recordingFetch(exchanges) {
    return async (url, init = {}) => {
        const res = await fetch(url, init);
        const headers = new Headers(init.headers);
        exchanges.push({
            method: init.method ?? 'GET',
            headers,
            body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
            status: res.status,
            responseHeaders: res.headers
        });
        return res;
    };
}

async function connectStdio(mode, dataDir, key) {
    state.step = `stdio/${mode.label}: connect`;
    const transport = new StdioClientTransport({
        command: process.env.AGENTRELAY_BIN,
        args: ['mcp', '--data', dataDir],
        env: { ...getDefaultEnvironment(), AGENTRELAY_API_KEY: key },
        stderr: 'pipe'
    });
    let stderr = '';
    transport.stderr?.on('data', d => (stderr += d));
    state.serverLogs.push(() => `agentrelay mcp (${mode.label}) stderr:\n${stderr}`);
    const tap = tapTransport(transport);
    const client = new Client({ name: 'agentrelay-conformance-modern', version: '1.0.0' },
        { versionNegotiation: mode.negotiation });
    Object.assign(client, { label: `stdio/${mode.label}`, tap, exchanges: null });
    await client.connect(transport);
    state.cleanups.push(() => client.close());
    return client;
}

async function connectHttp(mode, url, key) {
    state.step = `http/${mode.label}: connect`;
    const exchanges = [];
    const transport = new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { Authorization: `Bearer ${key}` } },
        fetch: recordingFetch(exchanges)
    });
    const tap = tapTransport(transport);
    const client = new Client({ name: 'agentrelay-conformance-modern', version: '1.0.0' },
        { versionNegotiation: mode.negotiation });
    Object.assign(client, { label: `http/${mode.label}`, tap, exchanges });
    await client.connect(transport);
    state.cleanups.push(async () => {
        if (mode.era === 'legacy') await transport.terminateSession().catch(() => {});
        await client.close();
    });
    return client;
}

function checkEra(client, mode) {
    state.step = `${client.label}: negotiated era`;
    const era = client.getProtocolEra();
    const version = client.getNegotiatedProtocolVersion();
    check(era === mode.era, `negotiated the ${era} era (version ${version}), expected ${mode.era}`);
    if (mode.era === 'modern') check(version === MODERN, `negotiated ${version}, expected ${MODERN}`);
    else check(version !== MODERN, `a legacy connect negotiated ${version}`);
    check(client.getServerVersion()?.name === 'agentrelay',
        `server identity is ${JSON.stringify(client.getServerVersion())}`);
}

async function checkDiscover(client) {
    state.step = `${client.label}: server/discover`;
    const found = await client.discover();
    check(found.supportedVersions?.includes(MODERN), `server/discover supportedVersions: ${JSON.stringify(found.supportedVersions)}`);
    check(found.capabilities?.tools, `server/discover capabilities: ${JSON.stringify(found.capabilities)}`);
}

async function listTools(client) {
    state.step = `${client.label}: tools/list`;
    // 'refresh': always ask the server (a cached answer would skip the wire checks).
    const { tools } = await client.listTools(undefined, { cacheMode: 'refresh' });
    const names = tools.map(t => t.name).sort();
    check(JSON.stringify(names) === JSON.stringify(TOOLS), `tools/list gave ${names.join(', ')}`);
    for (const t of tools) {
        check(t.inputSchema?.type === 'object', `${t.name}: inputSchema root type is not object`);
        check(t.outputSchema?.type === 'object', `${t.name}: outputSchema root type is not object`);
        check(typeof t.description === 'string' && t.description.length > 0, `${t.name}: no description`);
        check(t.annotations?.readOnlyHint === (t.name !== 'send_email'), `${t.name}: wrong readOnlyHint`);
    }
}

// Calls a tool; a result with isError fails the step with the tool's message.
async function call(client, name, args) {
    state.step = `${client.label}: ${name}`;
    const result = await client.callTool({ name, arguments: args });
    if (result.isError) fail(`${name} returned isError: ${result.content?.map(c => c.text).join(' ')}`);
    check(result.structuredContent, `${name} returned no structuredContent`);
    const text = result.content?.find(c => c.type === 'text')?.text;
    check(text !== undefined && JSON.stringify(JSON.parse(text)) === JSON.stringify(result.structuredContent),
        `${name}: the text block is not the same JSON as structuredContent`);
    return result.structuredContent;
}

// sender mails recipient (threaded on inReplyTo when given); the recipient waits for it, finds
// it in the inbox and reads it. Returns what read_message gave.
async function exchangeMail(sender, recipient, recipientAddress, inReplyTo) {
    const since = new Date(Date.now() - 2000).toISOString();
    const subject = uniqueSubject(sender.label);
    const sent = await call(sender, 'send_email', {
        to: recipientAddress,
        subject,
        text: `Hello from the ${sender.label} client.`,
        attachments: [{ filename: 'hello.txt', content_type: 'text/plain', content_base64: Buffer.from('hi\n').toString('base64') }],
        idempotency_key: subject,
        ...(inReplyTo ? { in_reply_to: inReplyTo } : {})
    });
    check(sent.status === 'queued', `send_email status is ${sent.status}`);
    const status = await call(sender, 'check_status', { message_id: sent.message_id });
    check(status.message_id === sent.message_id, 'check_status answered for another message');
    const bounces = await call(sender, 'list_bounces', { limit: 5 });
    check(Array.isArray(bounces.bounces), 'list_bounces gave no bounces array');

    const waited = await call(recipient, 'wait_for_message', { subject_contains: subject, since, timeout_seconds: 30 });
    check(waited.timed_out === false && waited.message?.subject === subject, `wait_for_message gave ${JSON.stringify(waited)}`);
    const listed = await call(recipient, 'list_messages', { limit: 100 });
    check(listed.messages.some(m => m.id === waited.message.id), 'list_messages does not list the received mail');
    const read = await call(recipient, 'read_message', { id: waited.message.id, include_attachments: true });
    check(read.subject === subject && read.text.includes('Hello from'), `read_message gave ${JSON.stringify(read).slice(0, 300)}`);
    const att = read.attachments.find(a => a.filename === 'hello.txt');
    check(att && Buffer.from(att.content_base64 ?? '', 'base64').toString() === 'hi\n', 'read_message lost the attachment');
    if (inReplyTo) check(read.in_reply_to === inReplyTo, `the reply's in_reply_to is ${read.in_reply_to}`);
    return read;
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
    check(threw instanceof ProtocolError && threw.code === -32602,
        `an unknown tool did not give JSON-RPC error -32602 (${threw})`);
}

// The 2026-07-28 rules, checked on every message the client sent and received.
function checkModernWire(client) {
    state.step = `${client.label}: messages on the wire`;
    const requests = new Map();
    for (const { dir, message } of client.tap.wire) {
        if (dir === 'out' && message.method !== undefined && message.id !== undefined) {
            requests.set(message.id, message);
            check(message.params?._meta?.[META_VERSION] === MODERN,
                `${message.method} was sent without _meta["${META_VERSION}"]: ${JSON.stringify(message.params?._meta)}`);
        }
        if (dir !== 'in' || message.id === undefined || message.method !== undefined) continue;
        const request = requests.get(message.id);
        check(request, `a response to an id never sent: ${JSON.stringify(message).slice(0, 200)}`);
        if (!message.result) continue;
        check(message.result.resultType === 'complete',
            `the ${request.method} result has resultType ${JSON.stringify(message.result.resultType)}`);
        if (request.method === 'tools/list' || request.method === 'server/discover') {
            check(Number.isInteger(message.result.ttlMs) && message.result.ttlMs >= 0,
                `the ${request.method} result has ttlMs ${message.result.ttlMs}`);
            check(['public', 'private'].includes(message.result.cacheScope),
                `the ${request.method} result has cacheScope ${message.result.cacheScope}`);
        }
    }
    check(requests.size > 0, 'no request was recorded');
    for (const m of ['tools/list', 'tools/call']) {
        check([...requests.values()].some(r => r.method === m), `no ${m} was recorded`);
    }
    if (!client.exchanges) return;

    state.step = `${client.label}: HTTP exchanges`;
    check(client.exchanges.length > 0, 'no HTTP exchange was recorded');
    for (const ex of client.exchanges) {
        check(ex.method === 'POST', `the client sent ${ex.method} (status ${ex.status})`);
        check(!ex.responseHeaders.has('mcp-session-id'), 'the server issued an Mcp-Session-Id in the 2026-07-28 era');
        const body = ex.body;
        if (body?.method === undefined || body.id === undefined) continue;
        check(ex.headers.get('mcp-protocol-version') === MODERN,
            `${body.method} was POSTed with MCP-Protocol-Version ${ex.headers.get('mcp-protocol-version')}`);
        check(ex.headers.get('mcp-method') === body.method, `${body.method} was POSTed with Mcp-Method ${ex.headers.get('mcp-method')}`);
        if (body.method === 'tools/call') check(ex.headers.has('mcp-name'), 'tools/call was POSTed without Mcp-Name');
        const expected = body.params?.name === 'no_such_tool' ? [200, 400, 404] : [200];
        check(expected.includes(ex.status), `${body.method} ${body.params?.name ?? ''} answered HTTP ${ex.status}`);
    }
}

async function round(mode, dataDir, url) {
    const me = newAgent(dataDir, `m-${mode.label}-a-`);
    const peer = newAgent(dataDir, `m-${mode.label}-b-`);
    const stdio = await connectStdio(mode, dataDir, me.api_key);
    const http = await connectHttp(mode, url, peer.api_key);
    for (const client of [stdio, http]) {
        checkEra(client, mode);
        if (mode.era === 'modern') await checkDiscover(client);
        await listTools(client);
    }
    const got = await exchangeMail(stdio, http, peer.address);
    await exchangeMail(http, stdio, me.address, got.message_id);
    await checkErrors(stdio, peer.address);
    await checkErrors(http, me.address);
    await checkOutputValidation(stdio, stdio.tap);
    await checkOutputValidation(http, http.tap);
    if (mode.era === 'modern') {
        checkModernWire(stdio);
        checkModernWire(http);
    }
    log('conformance-modern', `${mode.label}: passed over stdio and Streamable HTTP`);
}

await run('conformance-modern', async () => {
    state.step = 'set-up';
    const dataDir = freshDataDir();
    const url = await startServe(dataDir);
    for (const mode of MODES) await round(mode, dataDir, url);
    log('conformance-modern', 'all checks passed (auto, pinned 2026-07-28 and legacy; every tool)');
});
