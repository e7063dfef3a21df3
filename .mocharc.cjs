// Mocha's settings. `npx mocha dist/test/x/y.test.js` runs just that file; with no file named,
// every compiled test runs (what `npm test` does), two files at a time: most tests wait on
// processes, sockets and timers, so two mocha workers on 2 cores took the suite from 10.5 to
// 5.8 minutes in one side-by-side run (each file still runs its tests in order).
const named = process.argv.slice(2).some((a) => !a.startsWith('-') && /\.test\.js$/.test(a));
module.exports = {
  ...(named ? {} : { spec: ['dist/test/**/*.test.js'], parallel: true, jobs: 2 }),
  timeout: 60000,
  slow: 2000,
  reporter: 'spec',
};
