import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration, parseDuration } from '../../core/kernel/duration.ts';

test('parseDuration reads Go duration syntax into milliseconds', () => {
  const cases: [string, number][] = [
    ['0', 0],
    ['0s', 0],
    ['-0s', 0],
    ['500ms', 500],
    ['10s', 10_000],
    ['1m30s', 90_000],
    ['2h45m', 9_900_000],
    ['1h2m3s', 3_723_000],
    ['1.5h', 5_400_000],
    ['-1.5h', -5_400_000],
    ['+5s', 5000],
    ['1.1s', 1100],
    ['.5s', 500],
    ['1.s', 1000],
    ['1us', 0.001],
    ['1µs', 0.001], // U+00B5 micro sign
    ['1μs', 0.001], // U+03BC Greek mu
    ['100ns', 0.0001],
    ['1m0.5s', 60_500],
    ['300ms20s', 20_300], // Go allows units in any order
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
});

test('parseDuration rejects what Go rejects', () => {
  for (const text of ['', '-', '1', '30', '1m30', 'ms', 's1', '1S', '1d', '1.5.5s', 'abc', '1 s', '10sx', '--1s']) {
    assert.equal(parseDuration(text), undefined, JSON.stringify(text));
  }
});

test('formatDuration prints milliseconds as Go prints a duration', () => {
  const cases: [number, string][] = [
    [0, '0s'],
    [500, '500ms'],
    [1.5, '1.5ms'],
    [0.5, '500µs'],
    [0.0001, '100ns'],
    [1000, '1s'],
    [1500, '1.5s'],
    [15_000, '15s'],
    [90_000, '1m30s'],
    [60_000, '1m0s'],
    [3_600_000, '1h0m0s'],
    [3_723_000, '1h2m3s'],
    [5_400_000, '1h30m0s'],
    [-90_000, '-1m30s'],
    [-250, '-250ms'],
  ];
  for (const [ms, text] of cases) assert.equal(formatDuration(ms), text, String(ms));
});

test('formatDuration and parseDuration round-trip', () => {
  for (const ms of [0, 1, 250, 999, 1000, 1234, 59_999, 60_000, 61_500, 3_599_000, 3_600_000, 86_400_000, -42_000]) {
    assert.equal(parseDuration(formatDuration(ms)), ms, String(ms));
  }
});
