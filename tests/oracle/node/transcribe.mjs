// Transcribes a short WAV through `switchboard sim llm`'s /v1/audio/transcriptions
// with the official openai client (the multipart form is the client's own) and
// prints, as one JSON line, what the client returned. Usage: node transcribe.mjs BASE_URL.
import OpenAI, { toFile } from 'openai';

const [base] = process.argv.slice(2);
const client = new OpenAI({ apiKey: 'sk-oracle', baseURL: `${base}/v1`, maxRetries: 0 });

// 0.1 s of 8 kHz 16-bit silence, as a WAV file.
const samples = 800;
const wav = Buffer.alloc(44 + samples * 2);
wav.write('RIFF', 0);
wav.writeUInt32LE(36 + samples * 2, 4);
wav.write('WAVEfmt ', 8);
wav.writeUInt32LE(16, 16);
wav.writeUInt16LE(1, 20);
wav.writeUInt16LE(1, 22);
wav.writeUInt32LE(8000, 24);
wav.writeUInt32LE(16000, 28);
wav.writeUInt16LE(2, 32);
wav.writeUInt16LE(16, 34);
wav.write('data', 36);
wav.writeUInt32LE(samples * 2, 40);

const out = {};
const json = await client.audio.transcriptions.create({
  file: await toFile(wav, 'caller.wav', { type: 'audio/wav' }),
  model: 'whisper-1',
  language: 'es',
});
out.json = json.text;
const text = await client.audio.transcriptions.create({
  file: await toFile(wav, 'caller.wav', { type: 'audio/wav' }),
  model: 'whisper-1',
  response_format: 'text',
});
out.text = typeof text === 'string' ? text : text.text;
try {
  await client.audio.transcriptions.create({ file: await toFile(wav, 'caller.wav'), model: '' });
  out.no_model = null;
} catch (e) {
  out.no_model = { status: e.status, param: e.param };
}
console.log(JSON.stringify(out));
