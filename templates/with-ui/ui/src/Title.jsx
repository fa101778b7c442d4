/** The page heading (the browser test edits this text to check hot reload through the proxy). */
export function Title() {
  return <h1 data-testid="title">Report writer</h1>;
}
