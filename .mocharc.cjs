// Mocha's settings. `npx mocha dist/test/x/y.test.js` runs just that file; with no file named,
// every compiled test runs (what `npm test` does).
const named = process.argv.slice(2).some((a) => !a.startsWith('-') && /\.test\.js$/.test(a));
module.exports = {
  ...(named ? {} : { spec: ['dist/test/**/*.test.js'] }),
  timeout: 60000,
  slow: 2000,
  reporter: 'spec',
};
