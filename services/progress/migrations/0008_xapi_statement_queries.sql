-- The LRS's queries on its statements (issue 16, xAPI Communication 2.1.3): what a filter on an
-- agent, an activity or a registration matches is found by JSON containment (statement @> pattern,
-- each place the agent or activity may stand being one pattern), which this index serves; and a
-- statement whose object is a StatementRef to a match matches too, found through the second.
CREATE INDEX xapi_statements_content ON xapi_statements USING gin (statement jsonb_path_ops);
CREATE INDEX xapi_statements_referring ON xapi_statements ((statement #>> '{object,id}'))
    WHERE statement #>> '{object,objectType}' = 'StatementRef';
